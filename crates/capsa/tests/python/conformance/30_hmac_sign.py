# expect: ["6e9ef29b75fffc5b7abae527d58fdadb2fe42e7219011976917343065f58ed4a",true]
import hmac, hashlib
sig = hmac.new(b"key", b"message", hashlib.sha256).hexdigest()
[sig, hmac.compare_digest(sig, hmac.new(b"key", b"message", "sha256").hexdigest())]
