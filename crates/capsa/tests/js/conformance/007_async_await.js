// expect: [[2,4,6],[20,"x",7,true],["function",true,"[object AsyncFunction]"],"arrow",true]
// covers: async functions, top-level await, sequential awaits in a loop, Promise.all, async arrows and methods
const delay = (v) => new Promise((resolve) => queueMicrotask(() => resolve(v)));
async function double(x) { await null; return x * 2; }
const seq = [];
for (const n of [1, 2, 3]) seq.push(await double(n));
const par = await Promise.all([double(10), delay('x'), 7, Promise.resolve(true)]);
const fnKinds = [typeof double, double(1) instanceof Promise, Object.prototype.toString.call(double)];
const arrow = async () => 'arrow';
const obj = { async m() { return this === obj; } };
const result = [seq, par, fnKinds, await arrow(), await obj.m()];
result
