// expect: ["12345678902222222211","12193263112482853211126352690","12499999887","339506163","-3","-1","18446744073709551615","1","-1","255","-9223372036854775808","bigint",true,true,false,"f","31","ff",9007199254740992,"9007199254740993",["TypeError","RangeError","TypeError","TypeError"],"40","-1","-6"]
// covers: BigInt arithmetic, truncating division/remainder, asUintN/asIntN, comparisons with Number, mixing errors, shifts
const a = 12345678901234567890n;
const b = 987654321n;
const errs = [];
try { 1n + 1; } catch (e) { errs.push(e.name); }
try { BigInt(1.5); } catch (e) { errs.push(e.name); }
try { JSON.stringify({ v: 1n }); } catch (e) { errs.push(e.name); }
try { Math.max(1n); } catch (e) { errs.push(e.name); }
[String(a + b), String(a * b), String(a / b), String(a % b), String(-7n / 2n), String(-7n % 2n), String(2n ** 64n - 1n), String(BigInt.asUintN(8, 257n)), String(BigInt.asIntN(8, 255n)), String(BigInt.asUintN(8, -1n)), String(BigInt.asIntN(64, 2n ** 63n)), typeof a, 1n < 2, 2n == 2, 2n === 2, 0n ? 't' : 'f', BigInt('0x1f').toString(), (255n).toString(16), Number(2n ** 53n + 1n), String(BigInt(Number.MAX_SAFE_INTEGER) + 2n), errs, String(5n << 3n), String(-1n >> 100n), String(~5n)]
