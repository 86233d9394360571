# expect: "[b'bc', ['line1\\n', 'line2\\n'], 'é\\n']"
import io
b = io.BytesIO()
b.write(b"abc"); b.seek(1)
s = io.StringIO("line1\nline2\n")
[b.read(), s.readlines(), io.TextIOWrapper(io.BytesIO("é\n".encode()), encoding="utf-8").read()]
