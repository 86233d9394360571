# expect: [["--- ","+++ ","@@ -2 +2 @@","-two","+too","@@ -3,0 +4 @@","+four"],0.75,["apple","ape"]]
import difflib
a = ["one", "two", "three"]
b = ["one", "too", "three", "four"]
[list(difflib.unified_diff(a, b, lineterm="", n=0)), round(difflib.SequenceMatcher(None, "abcd", "abxd").ratio(), 4), difflib.get_close_matches("appel", ["ape", "apple", "peach"])]
