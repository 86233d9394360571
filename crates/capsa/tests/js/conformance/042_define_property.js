// expect: [1,"h",14,7,["ro","acc"],{"ro":"value,writable,enumerable,configurable","hidden":"value,writable,enumerable,configurable","acc":"get,set,enumerable,configurable"},{"value":1,"writable":false,"enumerable":true,"configurable":false},["TypeError","TypeError"],14,["a"],"B","{\"ro\":1,\"acc\":14}"]
// covers: Object.defineProperty (data and accessor), getOwnPropertyDescriptors, defineProperties cloning accessors, redefinition rules, enumerability
const o = {};
Object.defineProperty(o, 'ro', { value: 1, enumerable: true });
Object.defineProperty(o, 'hidden', { value: 'h', writable: true });
let store = 5;
Object.defineProperty(o, 'acc', { get() { return store * 2; }, set(v) { store = v; }, enumerable: true, configurable: true });
o.acc = 21;
const descs = Object.getOwnPropertyDescriptors(o);
const summary = Object.fromEntries(Object.entries(descs).map(([k, d]) => [k, Object.keys(d).join(',')]));
const errs = [];
try { Object.defineProperty(o, 'ro', { value: 2 }); } catch (e) { errs.push(e.name); }
try { Object.defineProperty(o, 'x', { value: 1, get() {} }); } catch (e) { errs.push(e.name); }
Object.defineProperty(o, 'ro', { value: 1 });
const clone = Object.defineProperties({}, Object.getOwnPropertyDescriptors(o));
store = 7;
const props = Object.defineProperties({}, { a: { value: 'A', enumerable: true }, b: { get: () => 'B' } });
[o.ro, o.hidden, o.acc, store, Object.keys(o), summary, descs.ro, errs, clone.acc, Object.keys(props), props.b, JSON.stringify(o)]
