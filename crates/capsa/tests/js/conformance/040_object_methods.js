// expect: [[["2","two"],["10","ten"],["b",2],["a",1]],["2","10","b","a"],["two","ten",2,1],{"a":"x","b":"y"},{"m":1,"n":2},true,false,true,true,"undefined",{"0":"x","1":"y","a":3,"b":2},["own","inherited"],true,false,[["0","a"],["1","b"]],2]
// covers: Object.entries/keys/values ordering, fromEntries (arrays and Maps), Object.hasOwn, Object.create with null prototype, Object.assign, for-in over prototype chain, Object.is
const o = { b: 2, a: 1, 10: 'ten', 2: 'two', [Symbol('s')]: 'sym' };
const entries = Object.entries(o);
const inverted = Object.fromEntries(Object.entries({ x: 'a', y: 'b' }).map(([k, v]) => [v, k]));
const fromMap = Object.fromEntries(new Map([['m', 1], ['n', 2]]));
const proto = { inherited: true };
const child = Object.create(proto, { own: { value: 1, enumerable: true } });
const nullProto = Object.create(null);
nullProto.k = 'v';
const assigned = Object.assign({ a: 1 }, null, { b: 2 }, 'xy', { a: 3 });
const keysIn = [];
for (const k in child) keysIn.push(k);
[entries, Object.keys(o), Object.values(o), inverted, fromMap, Object.hasOwn(child, 'own'), Object.hasOwn(child, 'inherited'), 'inherited' in child, Object.hasOwn(nullProto, 'k'), typeof nullProto.hasOwnProperty, assigned, keysIn, Object.is(NaN, NaN), Object.is(0, -0), Object.entries('ab'), Object.getOwnPropertyNames([1]).length]
