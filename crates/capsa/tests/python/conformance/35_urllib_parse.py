# expect: ["https","example.com",8080,"/a/b",{"x":["1"],"y":["2","3"]},"q=a+b&n=1","%C3%A4/%20b","✓","https://a.com/z"]
from urllib.parse import urlparse, parse_qs, urlencode, quote, unquote, urljoin
u = urlparse("https://user@example.com:8080/a/b?x=1&y=2&y=3#frag")
[u.scheme, u.hostname, u.port, u.path, parse_qs(u.query), urlencode({"q": "a b", "n": 1}), quote("ä/ b"), unquote("%E2%9C%93"), urljoin("https://a.com/x/y", "../z")]
