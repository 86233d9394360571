# expect: ["0.142857142857142857142857142857","0.3","2.68","1.41421356237309504880168872421"]
from decimal import Decimal, getcontext, ROUND_HALF_UP
getcontext().prec = 30
[str(Decimal(1) / Decimal(7)), str(Decimal("0.1") + Decimal("0.2")), str(Decimal("2.675").quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)), str(Decimal(2).sqrt())]
