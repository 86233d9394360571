# expect: [6000,true,true,true,38600999]
import zlib, gzip
data = b"capsa " * 1000
z = zlib.compress(data, 9)
g = gzip.compress(data)
[len(data), len(z) < 100, zlib.decompress(z) == data, gzip.decompress(g) == data, zlib.adler32(b"abc")]
