// expect: [["a","b:X","inner-done",1,2,"h","i"],[0,1,1,2,3,5,8,13,21,34],["a","b","c"]]
// covers: yield* delegation (generators, arrays, strings), yield* return value, infinite generator with take
function* inner() { const x = yield 'a'; yield 'b:' + x; return 'inner-done'; }
function* outer() {
  const res = yield* inner();
  yield res;
  yield* [1, 2];
  yield* 'hi';
}
const g = outer();
const out = [];
let step = g.next();
while (!step.done) { out.push(step.value); step = g.next('X'); }
function* fib() { let [a, b] = [0, 1]; for (;;) { yield a; [a, b] = [b, a + b]; } }
function* take(n, it) { for (const v of it) { if (n-- <= 0) return; yield v; } }
[out, [...take(10, fib())], Array.from(take(3, 'abcdef'))]
