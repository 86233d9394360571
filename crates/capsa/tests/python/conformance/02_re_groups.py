# expect: ["ada","example.com",["1","22","333"],"a b c",["a","b","c"]]
import re
m = re.match(r"(?P<user>\w+)@(?P<host>[\w.]+)", "ada@example.com")
[m.group("user"), m.group("host"), re.findall(r"\d+", "a1b22c333"), re.sub(r"\s+", " ", "a  b\t\nc"), re.split(r"[,;]", "a,b;c")]
