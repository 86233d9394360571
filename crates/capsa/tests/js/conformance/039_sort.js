// expect: [["bob","dan","fay","ann","cat","eve"],["eve","ann","cat","bob","dan","fay"],true,0,98,[1,10,100,25,5],[1,5,10,25,100],[1,2,3,null,null],5,false,["10","9","A","B","a","b","e","é"],["c","a","b"]]
// covers: Array.prototype.sort stability, comparators, default string ordering, undefined and holes sorted last, multi-key comparators
const people = [
  { n: 'ann', age: 30 }, { n: 'bob', age: 25 }, { n: 'cat', age: 30 },
  { n: 'dan', age: 25 }, { n: 'eve', age: 35 }, { n: 'fay', age: 25 },
];
const byAge = people.slice().sort((a, b) => a.age - b.age).map(p => p.n);
const byAgeDesc = people.slice().sort((a, b) => b.age - a.age).map(p => p.n);
const big = Array.from({ length: 100 }, (_, i) => ({ k: i % 3, i }));
big.sort((a, b) => a.k - b.k);
let stable = true;
for (let i = 1; i < big.length; i++) if (big[i - 1].k === big[i].k && big[i - 1].i > big[i].i) stable = false;
const nums = [10, 1, 5, 100, 25].sort();
const numsCmp = [10, 1, 5, 100, 25].sort((a, b) => a - b);
const mixed = [3, undefined, 1, , 2].sort();
const strs = ['b', 'B', 'a', 'A', 'é', 'e', '10', '9'].sort();
const multiKey = [['b', 2], ['a', 2], ['c', 1]].sort((x, y) => x[1] - y[1] || (x[0] < y[0] ? -1 : 1)).map(x => x[0]);
[byAge, byAgeDesc, stable, big[0].i, big[99].i, nums, numsCmp, mixed, mixed.length, 4 in mixed, strs, multiKey]
