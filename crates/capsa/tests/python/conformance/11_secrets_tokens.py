# expect: [32,true,8,true,true]
import secrets
t = secrets.token_hex(16)
[len(t), all(c in "0123456789abcdef" for c in t), len(secrets.token_bytes(8)), secrets.randbelow(10) < 10, secrets.compare_digest("a", "a")]
