// expect: [[true,4,16,4],[8,8,[1,2,3,4,0,0,0,9]],[1,0,0],"RangeError",false,2,false,6]
// covers: resizable ArrayBuffer (maxByteLength, resize), length-tracking and out-of-bounds typed arrays, slice of resizable buffer
const rab = new ArrayBuffer(4, { maxByteLength: 16 });
const tracking = new Uint8Array(rab);
const fixed = new Uint8Array(rab, 0, 2);
tracking.set([1, 2, 3, 4]);
const before = [rab.resizable, rab.byteLength, rab.maxByteLength, tracking.length];
rab.resize(8);
tracking[7] = 9;
const grown = [rab.byteLength, tracking.length, Array.from(tracking)];
rab.resize(1);
const shrunk = [tracking.length, fixed.length, fixed.byteLength];
let err;
try { rab.resize(17); } catch (e) { err = e.name; }
const plain = new ArrayBuffer(2);
const sliced = new ArrayBuffer(8, { maxByteLength: 8 }).slice(2);
[before, grown, shrunk, err, plain.resizable, plain.maxByteLength, sliced.resizable, sliced.byteLength]
