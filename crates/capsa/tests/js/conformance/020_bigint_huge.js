// expect: ["115792089237316195423570985008687907853269984665640564039457584007913129639936","265252859812191058636308480000000","170141183460469231731687303715884105727","1",96,"2656139888","2oy99wnkl1c76diocq9s","45217",102]
// covers: huge BigInt powers and factorials as strings, modular exponentiation, toString radix, asUintN on huge values
const p = 2n ** 256n;
let fact = 1n;
for (let i = 2n; i <= 30n; i++) fact *= i;
const mersenne = 2n ** 127n - 1n;
function modpow(b, e, m) { let r = 1n; b %= m; while (e > 0n) { if (e & 1n) r = r * b % m; b = b * b % m; e >>= 1n; } return r; }
const digits = (3n ** 200n).toString();
[p.toString(), fact.toString(), mersenne.toString(), String(modpow(2n, mersenne - 1n, mersenne)), digits.length, digits.slice(0, 10), (10n ** 30n).toString(36), BigInt.asUintN(16, 3n ** 200n).toString(), (-(2n ** 100n)).toString(2).length]
