# expect: [0.30000000000000004,2.67,true,true,[3,2],3.5,3,0.5,3.5,3.0,[1,2],3,0,3.1622776601683795]
import math
[0.1 + 0.2, round(2.675, 2), 1e308 * 10 == math.inf, math.isnan(float("nan")), divmod(17, 5), 7 / 2, 7 // 2, 2 ** -1, abs(-3.5), float.fromhex("0x1.8p1"), (0.5).as_integer_ratio(), int(3.99), round(-0.5), 10 ** 0.5]
