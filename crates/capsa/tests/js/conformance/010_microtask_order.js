// expect: ["a0","sync","p1","q1","a1","c1","p2","a2","p3"]
// covers: microtask ordering of queueMicrotask, then-chains, await continuations and catch handlers
const log = [];
Promise.resolve().then(() => log.push('p1')).then(() => log.push('p2')).then(() => log.push('p3'));
queueMicrotask(() => log.push('q1'));
(async () => {
  log.push('a0');
  await undefined;
  log.push('a1');
  await undefined;
  log.push('a2');
})();
Promise.reject(new Error('x')).catch(() => log.push('c1'));
log.push('sync');
for (let i = 0; i < 10; i++) await Promise.resolve();
log
