# expect: [2432902008176640000,12,10000000000,1.414213562373,120,true,true,-3,3]
import math
[math.factorial(20), math.gcd(84, 36), math.isqrt(10**20), round(math.sqrt(2), 12), math.comb(10, 3), math.pi > 3.14159, math.inf > 10**300, math.floor(-2.5), math.ceil(2.1)]
