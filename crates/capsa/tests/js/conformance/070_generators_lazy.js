// expect: [[4,16,36,64,100],[1,2,3],3,[["a",1,true],["b",2,false],["c",3,true]],[1,2,3,4,5,6],[1,2,3],{"value":15,"done":true},[2,3,5,7,11,13,17,19,23,29]]
// covers: lazy generator pipelines (map/filter/take/zip), recursive yield*, generator methods as iterables, two-way generator communication
function* naturals() { let n = 1; while (true) yield n++; }
function* map(it, f) { for (const x of it) yield f(x); }
function* filter(it, p) { for (const x of it) if (p(x)) yield x; }
function* take(it, n) { if (n <= 0) return; for (const x of it) { yield x; if (--n <= 0) return; } }
function* zip(...its) { const iters = its.map(i => i[Symbol.iterator]()); while (true) { const rs = iters.map(i => i.next()); if (rs.some(r => r.done)) return; yield rs.map(r => r.value); } }
function* flatten(arr) { for (const x of arr) { if (Array.isArray(x)) yield* flatten(x); else yield x; } }
let produced = 0;
function* tracked() { while (true) { produced++; yield produced; } }
const evensSquared = [...take(map(filter(naturals(), n => n % 2 === 0), n => n * n), 5)];
const firstThree = [...take(tracked(), 3)];
const zipped = [...zip('abc', naturals(), [true, false, true, false])];
const flat = [...flatten([1, [2, [3, [4, [5]]]], 6])];
const genObj = { *[Symbol.iterator]() { yield* [1, 2]; yield 3; } };
function* twoWay() { let total = 0; while (true) { const v = yield total; if (v === undefined) return total; total += v; } }
const tw = twoWay(); tw.next(); tw.next(5); tw.next(10);
const final = tw.next();
const primes = [...take(filter(naturals(), n => { if (n < 2) return false; for (let d = 2; d * d <= n; d++) if (n % d === 0) return false; return true; }), 10)];
[evensSquared, firstThree, produced, zipped, flat, [...genObj], final, primes]
