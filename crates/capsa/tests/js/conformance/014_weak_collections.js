// expect: ["one","two",false,true,false,true,false,["TypeError","TypeError"],true,42,true,false,"Bo","[object WeakRef]"]
// covers: WeakMap, WeakSet, WeakRef.deref, FinalizationRegistry register/unregister, invalid weak keys
const wm = new WeakMap();
const ws = new WeakSet();
const k1 = {}, k2 = function () {};
wm.set(k1, 'one').set(k2, 'two');
ws.add(k1);
const errs = [];
try { wm.set('str', 1); } catch (e) { errs.push(e.name); }
try { ws.add(1); } catch (e) { errs.push(e.name); }
const target = { payload: 42 };
const ref = new WeakRef(target);
const reg = new FinalizationRegistry(() => {});
const token = {};
reg.register(target, 'held', token);
const unreg1 = reg.unregister(token);
const unreg2 = reg.unregister(token);
const priv = new WeakMap();
class Person { constructor(n) { priv.set(this, { n }); } get name() { return priv.get(this).n; } }
[wm.get(k1), wm.get(k2), wm.has({}), ws.has(k1), ws.has(k2), wm.delete(k1), wm.has(k1), errs, ref.deref() === target, ref.deref().payload, unreg1, unreg2, new Person('Bo').name, Object.prototype.toString.call(ref)]
