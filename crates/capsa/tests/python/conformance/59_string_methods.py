# expect: ["Hello, World!","hello, py!",["a","b","","c"],"x-y","***hello***",true,"tITLE cASE mE","tab sep","pi=003.1","00x",4,["a"," ","b"]]
s = "  Hello, World!  "
[s.strip(), s.strip().lower().replace("world", "py"), "a,b,,c".split(","), "-".join(["x", "y"]), "hello".center(11, "*"), "abc".startswith(("x", "a")), "Title Case Me".swapcase(), "tab\tsep".expandtabs(4), "%s=%05.1f" % ("pi", 3.14159), "x".zfill(3), "abcabc".rfind("b"), "a b".partition(" ")]
