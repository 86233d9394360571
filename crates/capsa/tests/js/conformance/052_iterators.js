// expect: [[3,2,1],["return called","return called","return called"],10,9,[{"value":2,"done":false},{"value":1,"done":false},{"done":true}],["a",1],"function",true,"stop",{"value":[1,"a"],"done":false},true,4,[9,4,1]]
// covers: custom iterable protocol, iterator return() on break/destructuring/throw, manual next(), %IteratorPrototype% chain, built-in iterators
const log = [];
class Countdown {
  constructor(n) { this.n = n; }
  [Symbol.iterator]() {
    let n = this.n;
    return {
      next: () => (n > 0 ? { value: n--, done: false } : { value: undefined, done: true }),
      return: (v) => { log.push('return called'); return { value: v, done: true }; },
      [Symbol.iterator]() { return this; },
    };
  }
}
const all = [...new Countdown(3)];
for (const v of new Countdown(5)) { if (v === 4) break; }
const [first, second] = new Countdown(10);
const manual = new Countdown(2)[Symbol.iterator]();
const steps = [manual.next(), manual.next(), manual.next()];
const entries = Object.entries({ a: 1 })[Symbol.iterator]();
const arrIterProto = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
const genProto = Object.getPrototypeOf(Object.getPrototypeOf(Object.getPrototypeOf((function* () {})())));
let thrown;
try { for (const x of new Countdown(3)) { throw new Error('stop'); } } catch (e) { thrown = e.message; }
const mapIter = new Map([[1, 'a']]).entries();
[all, log, first, second, steps, entries.next().value, typeof arrIterProto[Symbol.iterator], arrIterProto === genProto, thrown, mapIter.next(), mapIter[Symbol.iterator]() === mapIter, Math.max(...new Countdown(4)), Array.from(new Countdown(3), x => x * x)]
