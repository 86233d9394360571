// expect: [[1,2,3,4,5],[3,2,1],[1,2,3],[5,10,15],[1,1,0],1,2,10,2,[1,1,2,[1]],[3,1,2,[1,null,3]],10,["[object Arguments]",false,"function",["x","y"]],"outer","dflt",null,"ReferenceError",1,1,3]
// covers: default parameters referencing earlier params, lazy default evaluation, destructured defaults, arguments object (length, iteration, arrows), param TDZ, function length
function range(start, end = start + 5, step = end > start ? 1 : -1) { const out = []; for (let i = start; i !== end; i += step) out.push(i); return out; }
function withObj({ a = 1, b = a * 2 } = {}, c = a + b) { return [a, b, c]; }
let calls = 0;
function lazy(x = ++calls) { return x; }
function counts(a, b = 2) { return [arguments.length, a, b, Array.from(arguments)]; }
function sum() { let s = 0; for (let i = 0; i < arguments.length; i++) s += arguments[i]; return s; }
function argsType() { return [Object.prototype.toString.call(arguments), Array.isArray(arguments), typeof arguments[Symbol.iterator], [...arguments]]; }
const arrowArgs = function () { return (() => arguments[0])(); };
function undefDefault(a = 'dflt') { return a; }
let tdz;
try { (function (a = b, b = 1) {})(); } catch (e) { tdz = e.name; }
[range(1), range(3, 0), withObj(), withObj({ a: 5 }), withObj({ a: 1, b: 1 }, 0), lazy(), lazy(), lazy(10), calls, counts(1), counts(1, undefined, 3), sum(1, 2, 3, 4), argsType('x', 'y'), arrowArgs('outer'), undefDefault(undefined), undefDefault(null), tdz, range.length, ((a, b = 1, c) => 0).length, ((...r) => r.length)(1, 2, 3)]
