// expect: [[0,1,4,9,16],["a0","b1"],["h","é","y"],[null,0,0,null],true,[4,5,3,4,5],[1,1,2,4,5],[[0,"x"],[1,"y"]],[0,1,2],["x","y"],{"value":"p","done":false},"1-2,3--",[1,2,3,[4]],2,[true,false,false],[1,2],["A","B"],true]
// covers: Array.from with map fn, fill with ranges, copyWithin, entries/keys/values iterators, join, concat, indexOf fromIndex, Array.isArray, length truncation, generic array methods
const squares = Array.from({ length: 5 }, (_, i) => i * i);
const fromSet = Array.from(new Set(['a', 'b']), (s, i) => s + i);
const fromStr = Array.from('héy');
const filled = new Array(4).fill(0, 1, 3);
const objFill = Array(2).fill({});
objFill[0].shared = true;
const cw = [1, 2, 3, 4, 5].copyWithin(0, 3);
const cw2 = [1, 2, 3, 4, 5].copyWithin(1, 0, 2);
const e = [...['x', 'y'].entries()];
const k = [...['x', , 'z'].keys()];
const v = [...['x', 'y'].values()];
const it = ['p'][Symbol.iterator]();
const joined = [1, [2, [3]], null, undefined].join('-');
const concatenated = [1].concat(2, [3, [4]]);
const idx = ['a', 'b', 'a'].indexOf('a', 1);
const isArr = [Array.isArray([]), Array.isArray({ length: 0 }), Array.isArray(new Uint8Array(1))];
const lenTrunc = [1, 2, 3, 4]; lenTrunc.length = 2;
const arrLike = Array.prototype.map.call({ length: 2, 0: 'a', 1: 'b' }, x => x.toUpperCase());
[squares, fromSet, fromStr, filled, objFill[1].shared, cw, cw2, e, k, v, it.next(), joined, concatenated, idx, isArr, lenTrunc, arrLike, [1, 2, 3].includes(3, -1)]
