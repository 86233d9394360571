// expect: [1,2,[1,2,3],[30,10,20],"later","from thenable",42,6]
// covers: top-level await of promises, thenables and plain values, concurrent async tasks finishing in tick order, for await over array of promises
const sleepTick = (v) => new Promise(r => queueMicrotask(() => r(v)));
const first = await sleepTick(1);
const second = await sleepTick(first + 1);
const order = [];
const tasks = [3, 1, 2].map(async (n) => { for (let i = 0; i < n; i++) await null; order.push(n); return n * 10; });
const values = await Promise.all(tasks);
const resolvedLater = await new Promise(resolve => { Promise.resolve().then(() => resolve('later')); });
const thenable = await { then(r) { r('from thenable'); } };
const nonPromise = await 42;
let total = 0;
for await (const v of [sleepTick(1), 2, sleepTick(3)]) total += v;
const result = [first, second, order, values, resolvedLater, thenable, nonPromise, total];
result
