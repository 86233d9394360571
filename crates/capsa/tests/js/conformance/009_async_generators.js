// expect: [[10,20,30,40],[2,3,4],[{"value":10,"done":false},{"value":"stop","done":true},{"done":true}],"[object AsyncGenerator]","function"]
// covers: async generators, for await over async generator and over sync iterable of promises, return()
async function* ticker(n) {
  for (let i = 1; i <= n; i++) { await null; yield i * 10; }
}
const got = [];
for await (const v of ticker(4)) got.push(v);
async function* mapAsync(src, f) { for await (const x of src) yield f(x); }
const mapped = [];
for await (const v of mapAsync([Promise.resolve(1), 2, Promise.resolve(3)], x => x + 1)) mapped.push(v);
const it = ticker(3);
const steps = [await it.next(), await it.return('stop'), await it.next()];
const out = [got, mapped, steps, Object.prototype.toString.call(it), typeof it[Symbol.asyncIterator]];
out
