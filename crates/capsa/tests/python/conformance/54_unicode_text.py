# expect: [15,"NAÏVE CAFÉ 🐍 日本","6e61c3af76652063","SNAKE",true,"strasse","本日 🐍 éfac evïan","3dd800de",true]
import unicodedata
s = "naïve café 🐍 日本"
[len(s), s.upper(), s.encode("utf-8")[:8].hex(), unicodedata.name("🐍"), unicodedata.normalize("NFD", "é") == "e\u0301", "straße".casefold(), s[::-1], "😀".encode("utf-16-le").hex(), "ǅ".istitle()]
