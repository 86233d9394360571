// expect: [1,2,[3,4],"x",1,"y",2,"h","é",["l","l","o"],"g1","g3",1,2,2,"def",null,1,2,[3,2,1],{"first":"x","second":"y"},null,[],"TypeError",15,"val"]
// covers: array destructuring of Sets, Maps, strings, generators (lazy pulling), typed arrays; defaults vs null; assignment targets; non-iterable errors
const [a, b, ...restSet] = new Set([1, 2, 3, 4]);
const [[k1, v1], [k2, v2]] = new Map([['x', 1], ['y', 2]]);
const [c1, c2, ...restStr] = 'héllo';
function* gen() { yield 'g1'; yield 'g2'; yield 'g3'; }
const [g1, , g3] = gen();
let pulled = 0;
function* counting() { while (true) { pulled++; yield pulled; } }
const [p1, p2] = counting();
const [d1 = 'def', d2 = 'def'] = [undefined, null];
const [[n1, [n2]] = [1, [2]]] = [];
const swap = [1, 2, 3];
[swap[0], swap[2]] = [swap[2], swap[0]];
const obj = {};
[obj.first, obj['second']] = 'xy';
const [e0, ...emptyRest] = [];
let nonIter;
try { const [z] = {}; } catch (e) { nonIter = e.name; }
const [u1, u2] = new Uint8Array([7, 8, 9]);
const [[, second]] = Object.entries({ only: 'val' });
[a, b, restSet, k1, v1, k2, v2, c1, c2, restStr, g1, g3, p1, p2, pulled, d1, d2, n1, n2, swap, obj, e0, emptyRest, nonIter, u1 + u2, second]
