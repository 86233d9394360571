# expect: "['0001020304', 'cafe', 'Jello', [97, 98], [b'a', b'b'], 'bc', '0400', 1]"
b = bytes(range(5))
ba = bytearray(b"hello")
ba[0] = ord("J")
[b.hex(), bytes.fromhex("cafe").hex(), ba.decode(), list(b"ab"), b"a,b".split(b","), memoryview(b"abc")[1:].tobytes().decode(), (1024).to_bytes(2, "big").hex(), int.from_bytes(b"\x01\x00", "little")]
