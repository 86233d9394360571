// expect: [[1,99,255,0,255],[255,0,2,2],[-1000,-2000,-3000],false,0.10000000149011612,1.5,2,8,4,[0,0,0,0,0,7,7,0],99,[-3,0,5,10],1,8,[2,198,254,0,254],"-1",255,"[object Int16Array]","-3000,-2000,-1000",[9,2,3]]
// covers: typed array wrapping/clamping, Float32 rounding, shared buffers, subarray vs slice, sort, map, BigInt64Array, at, toReversed, with
const u8 = new Uint8Array([1, 2, 255, 256, -1]);
const clamped = new Uint8ClampedArray([300, -5, 1.5, 2.5]);
const i16 = Int16Array.from([1, 2, 3], x => x * -1000);
const f32 = new Float32Array([0.1, 1.5]);
const buf = new ArrayBuffer(8);
const view32 = new Uint32Array(buf);
const view8 = new Uint8Array(buf, 4, 4);
view8.set([7, 7], 1);
const sub = u8.subarray(1, 3);
sub[0] = 99;
const sliced = u8.slice(0, 2);
sliced[0] = 100;
const sorted = new Int8Array([5, -3, 10, 0]).sort();
[Array.from(u8), Array.from(clamped), Array.from(i16), f32[0] === 0.1, f32[0], f32[1], view32.length, buf.byteLength, view8.byteOffset, Array.from(new Uint8Array(buf)), u8[1], Array.from(sorted), u8.BYTES_PER_ELEMENT, Float64Array.BYTES_PER_ELEMENT, Array.from(u8.map(x => x * 2)), new BigInt64Array([-1n])[0].toString(), u8.at(-1), Object.prototype.toString.call(i16), i16.toReversed().join(), [...new Uint16Array([1, 2, 3]).with(0, 9)]]
