// expect: [[1,2,"a"],["next","next","return","agen cleanup","agen cleanup"],["p","q"],["a","b","done"]]
// covers: manual async iterator protocol with return() on break, async generator finally on break, for await over sync generator yielding promises, queued async generator requests
const log = [];
const source = {
  [Symbol.asyncIterator]() {
    let i = 0;
    return {
      next() { log.push('next'); return Promise.resolve({ value: ++i, done: i > 5 }); },
      return() { log.push('return'); return Promise.resolve({ done: true }); },
    };
  },
};
const seen = [];
for await (const v of source) { seen.push(v); if (v === 2) break; }
async function* agen() { try { yield 'a'; yield 'b'; } finally { log.push('agen cleanup'); } }
for await (const v of agen()) { seen.push(v); break; }
const syncToAsync = [];
for await (const v of (function* () { yield Promise.resolve('p'); yield 'q'; })()) syncToAsync.push(v);
const ag = agen();
const queued = await Promise.all([ag.next(), ag.next(), ag.next()]);
const out = [seen, log, syncToAsync, queued.map(r => r.value ?? 'done')];
out
