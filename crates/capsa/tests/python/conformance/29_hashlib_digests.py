# expect: ["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","900150983cd24fb0d6963f7d28e17f72","a9993e364706816aba3e25717850c26c9cd0d89d","d8bb14d833d59559","a7ffc6f8bf1ed766"]
import hashlib
[hashlib.sha256(b"abc").hexdigest(), hashlib.md5(b"abc").hexdigest(), hashlib.sha1(b"abc").hexdigest(), hashlib.blake2b(b"abc", digest_size=8).hexdigest(), hashlib.sha3_256(b"").hexdigest()[:16]]
