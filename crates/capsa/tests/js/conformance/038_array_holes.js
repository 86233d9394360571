// expect: [5,false,true,[0,2,4],[10,null,30,null,50],false,["0","2","4"],true,-1,[1,3,5],[1,3,5],[null,"a"],true,[null,"b"],6,["5"],"1||3||5",5,9,2,1,false,5]
// covers: array holes with in, forEach/map/filter/flat/some skipping, includes vs indexOf, spread/Array.from filling holes, join, JSON null
const holes = [1, , 3, , 5];
const visited = [];
holes.forEach((v, i) => visited.push(i));
const mapped = holes.map(x => x * 10);
const keys = Object.keys(holes);
const withUndef = [1, undefined, 3];
const spreadHoles = [...[, 'a']];
const fromHoles = Array.from([, 'b']);
const sparse = [];
sparse[5] = 'x';
const entriesCount = [...holes.entries()].length;
[holes.length, 1 in holes, 1 in withUndef, visited, mapped, 1 in mapped, keys, holes.includes(undefined), holes.indexOf(undefined), holes.filter(() => true), holes.flat(), spreadHoles, 0 in spreadHoles, fromHoles, sparse.length, Object.keys(sparse), holes.join('|'), entriesCount, holes.reduce((a, b) => a + b), [, ,].length, holes.findIndex(x => x === undefined), holes.some(x => x === undefined), holes.toSorted().length]
