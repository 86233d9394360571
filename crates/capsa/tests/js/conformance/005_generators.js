// expect: [[0,1,0,1],{"value":42,"done":true},{"done":true},["cleanup","caught boom"],[1,2,3,true],"[object Generator]"]
// covers: generators, next(value), return() running finally, throw() caught inside generator
function* counter() {
  let i = 0;
  try {
    while (true) {
      const cmd = yield i++;
      if (cmd === 'reset') i = 0;
    }
  } finally {
    log.push('cleanup');
  }
}
const log = [];
const g = counter();
const a = [g.next().value, g.next().value, g.next('reset').value, g.next().value];
const r = g.return(42);
const after = g.next();
function* guarded() {
  try { yield 1; } catch (e) { log.push('caught ' + e); yield 2; }
  yield 3;
}
const h = guarded();
const b = [h.next().value, h.throw('boom').value, h.next().value, h.next().done];
[a, r, after, log, b, Object.prototype.toString.call(g)]
