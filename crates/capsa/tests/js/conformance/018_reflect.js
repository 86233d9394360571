// expect: [["1","2","b","a","hidden","Symbol(s)"],true,"receiver",7,5,true,false,false,false,true,false,["0","1","length"]]
// covers: Reflect.ownKeys ordering (integer keys, strings, symbols), Reflect.has/get with receiver/apply/construct/defineProperty/set/deleteProperty
const sym = Symbol('s');
const o = { b: 1, 2: 'two', a: 2, 1: 'one', [sym]: 3 };
Object.defineProperty(o, 'hidden', { value: 4, enumerable: false });
const keys = Reflect.ownKeys(o).map(k => typeof k === 'symbol' ? k.toString() : k);
class P { constructor(x) { this.x = x; } }
const inst = Reflect.construct(P, [5]);
const frozen = Object.freeze({ f: 1 });
const getterObj = { get who() { return this.name; }, name: 'obj' };
[keys, Reflect.has(o, 'hidden'), Reflect.get(getterObj, 'who', { name: 'receiver' }), Reflect.apply(Math.max, null, [1, 7, 3]), inst.x, inst instanceof P, Reflect.defineProperty(frozen, 'g', { value: 1 }), Reflect.set(frozen, 'f', 2), Reflect.deleteProperty(frozen, 'f'), Reflect.getPrototypeOf(inst) === P.prototype, Reflect.isExtensible(frozen), Reflect.ownKeys([1, 2])]
