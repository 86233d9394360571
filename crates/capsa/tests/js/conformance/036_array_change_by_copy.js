// expect: [[3,1,2],[1,2,3],[3,2,1],[2,1,3],[3,"x","y",2],[2],[3,1,99],"RangeError",[1,3,null],true,true,[1,2,3],[3,2,1],[1,"a",4],[2,3],[1,10,9]]
// covers: ES2023 change-array-by-copy (toSorted, toReversed, toSpliced, with) vs mutating sort/reverse/splice, holes in toSorted
const orig = [3, 1, 2];
const sorted = orig.toSorted();
const sortedDesc = orig.toSorted((a, b) => b - a);
const reversed = orig.toReversed();
const spliced = orig.toSpliced(1, 1, 'x', 'y');
const removed = orig.toSpliced(0, 2);
const replaced = orig.with(-1, 99);
let err;
try { orig.with(5, 0); } catch (e) { err = e.name; }
const sparse = [1, , 3];
const sparseSorted = sparse.toSorted();
const inPlace = [3, 1, 2];
const ret = inPlace.sort();
const inPlaceRev = [1, 2, 3];
inPlaceRev.reverse();
const splicedOut = [1, 2, 3, 4];
const removedItems = splicedOut.splice(1, 2, 'a');
[orig, sorted, sortedDesc, reversed, spliced, removed, replaced, err, sparseSorted, 1 in sparseSorted, ret === inPlace, inPlace, inPlaceRev, splicedOut, removedItems, [10, 9, 1].toSorted()]
