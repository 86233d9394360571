# expect: [[1,2,3,4],4,"efbeaddefeff07",[3735928559,-2,7],7,[[1],[2]]]
import array, struct
a = array.array("i", [1, 2, 3])
a.append(4)
packed = struct.pack("<IhB", 0xDEADBEEF, -2, 7)
[a.tolist(), a.itemsize, packed.hex(), struct.unpack("<IhB", packed), struct.calcsize("<IhB"), list(struct.iter_unpack("<H", b"\x01\x00\x02\x00"))]
