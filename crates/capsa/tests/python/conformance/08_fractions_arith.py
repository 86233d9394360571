# expect: ["1/2","355/113",0.875,"137/60"]
from fractions import Fraction
f = Fraction(1, 3) + Fraction(1, 6)
[str(f), str(Fraction("3.1415926").limit_denominator(1000)), float(Fraction(7, 8)), str(sum(Fraction(1, n) for n in range(1, 6)))]
