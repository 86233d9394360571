// expect: [0,32,["_c"],true,["expensive","expensive","expensive"],1,false,false,["set x=5","get y","set y=2","get x","get y"],{"x":5,"y":2},5,"TypeError",1]
// covers: getters/setters installed with Object.defineProperty on prototypes and instances, self-replacing lazy getter, observed properties, getter-only assignment in strict mode
function Temperature(c) { this._c = c; }
Object.defineProperty(Temperature.prototype, 'fahrenheit', {
  get() { return this._c * 1.8 + 32; },
  set(f) { this._c = (f - 32) / 1.8; },
  enumerable: false, configurable: true,
});
const t = new Temperature(100);
t.fahrenheit = 32;
const lazy = {};
let computeCount = 0;
Object.defineProperty(lazy, 'value', {
  configurable: true, enumerable: true,
  get() { computeCount++; const v = 'expensive'; Object.defineProperty(this, 'value', { value: v, writable: false, enumerable: true }); return v; },
});
const reads = [lazy.value, lazy.value, lazy.value];
const log = [];
const observed = {};
for (const key of ['x', 'y']) {
  let v = 0;
  Object.defineProperty(observed, key, { get() { log.push('get ' + key); return v; }, set(nv) { log.push(`set ${key}=${nv}`); v = nv; }, enumerable: true });
}
observed.x = 5; observed.y += 2;
const getterOnly = Object.defineProperty({}, 'g', { get: () => 1 });
let strictErr;
(function () { 'use strict'; try { getterOnly.g = 2; } catch (e) { strictErr = e.name; } })();
const d = Object.getOwnPropertyDescriptor(lazy, 'value');
[t._c, t.fahrenheit, Object.keys(t), 'fahrenheit' in t, reads, computeCount, d.writable, 'get' in d, log, { ...observed }, log.length, strictErr, getterOnly.g]
