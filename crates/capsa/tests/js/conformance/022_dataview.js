// expect: ["12343412fffffffe0807060504030201",4660,13330,-2,4294967294,255,"102030405060708","807060504030201","RangeError",4,4,-2]
// covers: DataView big/little endian reads and writes, BigUint64, bounds errors, views with offsets
const buf = new ArrayBuffer(16);
const dv = new DataView(buf);
dv.setUint16(0, 0x1234);
dv.setUint16(2, 0x1234, true);
dv.setInt32(4, -2);
dv.setFloat32(8, 1.5);
dv.setBigUint64(8, 0x0102030405060708n, true);
const bytes = Array.from(new Uint8Array(buf), b => b.toString(16).padStart(2, '0')).join('');
let rangeErr;
try { dv.getUint32(14); } catch (e) { rangeErr = e.name; }
const part = new DataView(buf, 4, 4);
[bytes, dv.getUint16(0), dv.getUint16(0, true), dv.getInt32(4), dv.getUint32(4), dv.getUint8(4), dv.getBigUint64(8, true).toString(16), dv.getBigInt64(8).toString(16), rangeErr, part.byteLength, part.byteOffset, part.getInt32(0)]
