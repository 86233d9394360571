// expect: ["TypeError","{\"big\":\"10n\"}","[3,\"s\",false,{}]","{\"1\":\"one\"}","deep","\"é😀\\u0000\\u001f\\\"\\\\/\"",{"n":0,"e":1e-7,"big":1e+300,"f":0.1},true,null,"{\n \"a\": [],\n \"b\": {},\n \"c\": [\n  []\n ]\n}",2,"undefined"]
// covers: JSON circular reference TypeError, BigInt toJSON, boxed primitives, numeric replacer keys, string escaping, -0/exponent round trip, __proto__ key in JSON.parse, duplicate keys
const circular = { name: 'c' };
circular.self = circular;
let circErr;
try { JSON.stringify(circular); } catch (e) { circErr = e.name; }
const withBigIntToJSON = (() => { BigInt.prototype.toJSON = function () { return this.toString() + 'n'; }; const s = JSON.stringify({ big: 10n }); delete BigInt.prototype.toJSON; return s; })();
const boxed = JSON.stringify([new Number(3), new String('s'), new Boolean(false), Object(Symbol('x'))]);
const arrReplacerNumbers = JSON.stringify({ 1: 'one', 2: 'two', a: 'x' }, [1]);
const deep = JSON.parse(JSON.stringify({ a: [{ b: [{ c: [1, 2, { d: 'deep' }] }] }] }));
const escaped = JSON.stringify('é😀\u0000\u001f"\\/');
const roundTrip = JSON.parse(JSON.stringify({ n: -0, e: 1e-7, big: 1e300, f: 0.1 }));
const proto = JSON.parse('{"__proto__": {"polluted": true}}');
const keysWithIndent = JSON.stringify({ a: [], b: {}, c: [[]] }, null, 1);
const dupe = JSON.parse('{"k": 1, "k": 2}');
[circErr, withBigIntToJSON, boxed, arrReplacerNumbers, deep.a[0].b[0].c[2].d, escaped, roundTrip, Object.hasOwn(proto, '__proto__'), ({}).polluted, keysWithIndent, dupe.k, typeof BigInt.prototype.toJSON]
