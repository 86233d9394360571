// expect: [[["a",10],["c",3]],4,"obj","nan",false,[3,1,2,null,0],5,[3,3],4,{"a":10,"c":3},"misp"]
// covers: Map and Set insertion order, object keys, NaN and -0 key equality, entries/keys, Object.fromEntries
const m = new Map([['a', 1], ['b', 2]]);
m.set('c', 3).set('a', 10);
const keyObj = {};
m.set(keyObj, 'obj');
m.set(NaN, 'nan');
m.delete('b');
const s = new Set([3, 1, 3, 2, 1]);
s.add(NaN).add(NaN).add(0).add(-0);
const entries = [...m].filter(([k]) => typeof k === 'string');
[entries, m.size, m.get(keyObj), m.get(NaN), m.has('b'), [...s], s.size, [...s.entries()][0], [...m.keys()].length, Object.fromEntries(entries), [...new Set('mississippi')].join('')]
