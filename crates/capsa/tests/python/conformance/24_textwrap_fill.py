# expect: [["The quick brown fox","jumps over the lazy","dog and keeps","running far away."],"The quick brown fox [...]","a\n  b","> x\n> y"]
import textwrap
s = "The quick brown fox jumps over the lazy dog and keeps running far away."
[textwrap.wrap(s, 20), textwrap.shorten(s, 30), textwrap.dedent("    a\n      b"), textwrap.indent("x\ny", "> ")]
