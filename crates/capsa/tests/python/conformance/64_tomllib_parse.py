# expect: {"title":"capsa","limits":{"timeout":"5s","memory":128},"route":[{"path":"/a"},{"path":"/b"}]}
import tomllib
tomllib.loads("""
title = "capsa"
[limits]
timeout = "5s"
memory = 128
[[route]]
path = "/a"
[[route]]
path = "/b"
""")
