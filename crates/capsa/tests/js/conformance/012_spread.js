// expect: [[0,1,2,3,"a","b",3,4],10,{"a":1,"b":3,"c":4},15,3,2,"computed",[[1,"a"]]]
// covers: array spread of iterables, call spread, object spread (override order, null/undefined, getters), shallow copies
const arr = [1, 2, 3];
const merged = [0, ...arr, ...'ab', ...new Set([3, 4])];
const maxv = Math.max(...arr, 10);
const base = { a: 1, b: 2 };
const over = { ...base, b: 3, ...{ c: 4 }, ...null, ...undefined };
function sum(...nums) { return nums.reduce((s, n) => s + n, 0); }
const copy = [...arr]; copy.push(99);
const nested = { inner: { z: 1 } };
const shallow = { ...nested }; shallow.inner.z = 2;
const withGetter = { ...{ get g() { return 'computed'; } } };
[merged, maxv, over, sum(...arr, ...[4, 5]), arr.length, nested.inner.z, Object.getOwnPropertyDescriptor(withGetter, 'g').value, [...new Map([[1, 'a']])]]
