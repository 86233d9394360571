// expect: ["after await p","then1","then2","resolved-with-promise","async-return-promise"]
// covers: spec microtask tick counts: await on native promise vs then-chains vs resolving a promise with a promise (thenable job) vs async function returning a promise
const log = [];
const p = Promise.resolve();
(async () => { await p; log.push('after await p'); })();
p.then(() => log.push('then1')).then(() => log.push('then2'));
new Promise(r => r(p)).then(() => log.push('resolved-with-promise'));
(async () => { return p; })().then(() => log.push('async-return-promise'));
for (let i = 0; i < 10; i++) await null;
log
