// expect: [100,212,15,"RangeError:bad width","px","function",null,false,true,[]]
// covers: object literal getters/setters, class getters/setters with private state, static getter, accessor descriptors
const temp = {
  _c: 25,
  get f() { return this._c * 9 / 5 + 32; },
  set f(v) { this._c = (v - 32) * 5 / 9; },
};
temp.f = 212;
class Rect {
  #w; #h;
  constructor(w, h) { this.#w = w; this.#h = h; }
  get area() { return this.#w * this.#h; }
  set width(w) { if (w <= 0) throw new RangeError('bad width'); this.#w = w; }
  static get unit() { return 'px'; }
}
const r = new Rect(2, 3);
r.width = 5;
let err;
try { r.width = -1; } catch (e) { err = e.name + ':' + e.message; }
const d = Object.getOwnPropertyDescriptor(Rect.prototype, 'area');
[temp._c, temp.f, r.area, err, Rect.unit, typeof d.get, d.set, d.enumerable, 'area' in r, Object.keys(r)]
