# expect: [0.0,2.0,0.0,"(5+5j)"]
import cmath
z = cmath.sqrt(-4)
[z.real, z.imag, round(abs(cmath.exp(1j * cmath.pi) + 1), 12), str(complex(1, 2) * complex(3, -1))]
