# expect: ["   'ada'","00101010","3.142","42","  3.14e+00","n=42","nested 43","1_000_000"]
import math
name, n, x = "ada", 42, math.pi
w = 10
[f"{name!r:>8}", f"{n:08b}", f"{x:.3f}", f"{n:,}", f"{x:{w}.2e}", f"{n=}", f"{'nested ' + f'{n+1}'}", f"{1_000_000:_}"]
