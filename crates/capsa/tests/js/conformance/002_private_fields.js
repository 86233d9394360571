// expect: [30,true,false,2,"TypeError",3,0,"{}"]
// covers: private fields, private methods, static private fields, #x in obj brand checks
class Counter {
  #count = 0;
  static #instances = 0;
  #secret() { return this.#count * 10; }
  constructor() { Counter.#instances++; }
  inc() { this.#count++; return this; }
  get value() { return this.#secret(); }
  static isCounter(o) { return #count in o; }
  static instances() { return Counter.#instances; }
  static read(o) { try { return o.#count; } catch (e) { return e.name; } }
}
const c = new Counter().inc().inc().inc();
new Counter();
[c.value, Counter.isCounter(c), Counter.isCounter({}), Counter.instances(), Counter.read({}), Counter.read(c), Object.keys(c).length, JSON.stringify(c)]
