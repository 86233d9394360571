# expect: [[["v1","v2"],["t"]],1,1]
def run():
    raise ExceptionGroup("many", [ValueError("v1"), TypeError("t"), ValueError("v2")])
caught = []
try:
    run()
except* ValueError as eg:
    caught.append(sorted(str(e) for e in eg.exceptions))
except* TypeError as eg:
    caught.append([str(e) for e in eg.exceptions])
eg = ExceptionGroup("g", [KeyError("k"), OSError("o")])
match, rest = eg.split(KeyError)
[caught, len(match.exceptions), len(rest.exceptions)]
