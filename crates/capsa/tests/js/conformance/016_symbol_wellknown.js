// expect: [[1,"x","y","arr"],[3,4,5,6],["c","b","a"],["custom:q"],[0,1,2],"object",true]
// covers: Symbol.isConcatSpreadable, Symbol.iterator generator method, Symbol.split, Symbol.match, Symbol.asyncIterator with for await, Symbol.unscopables
const spreadable = { length: 2, 0: 'x', 1: 'y', [Symbol.isConcatSpreadable]: true };
const notSpread = [9, 8]; notSpread[Symbol.isConcatSpreadable] = false;
const concat = [1].concat(spreadable, notSpread).map(v => Array.isArray(v) ? 'arr' : v);
class Range {
  constructor(a, b) { this.a = a; this.b = b; }
  *[Symbol.iterator]() { for (let i = this.a; i <= this.b; i++) yield i; }
}
const splitter = { [Symbol.split](s) { return s.split('').reverse(); } };
const matcher = { [Symbol.match](s) { return ['custom:' + s]; } };
const asyncIterable = {
  [Symbol.asyncIterator]() {
    let i = 0;
    return { next: () => Promise.resolve(i < 3 ? { value: i++, done: false } : { value: undefined, done: true }) };
  },
};
const got = [];
for await (const v of asyncIterable) got.push(v);
const out = [concat, [...new Range(3, 6)], 'abc'.split(splitter), 'q'.match(matcher), got, typeof Array.prototype[Symbol.unscopables], Array.prototype[Symbol.unscopables].flat];
out
