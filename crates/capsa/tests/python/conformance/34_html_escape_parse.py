# expect: ["&lt;a href=&#x27;x&#x27;&gt;&amp;&lt;/a&gt;","<é!",["/x","/y"]]
import html
from html.parser import HTMLParser
class Links(HTMLParser):
    def __init__(self):
        super().__init__(); self.links = []
    def handle_starttag(self, tag, attrs):
        if tag == "a": self.links.append(dict(attrs)["href"])
p = Links(); p.feed('<p><a href="/x">x</a> <a href="/y">y</a></p>')
[html.escape("<a href='x'>&</a>"), html.unescape("&lt;&eacute;&#33;"), p.links]
