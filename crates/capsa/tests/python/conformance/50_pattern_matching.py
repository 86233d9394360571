# expect: ["origin","point 1,2","list from 1 (+2)","one 9","negative","str hi","other"]
def describe(v):
    match v:
        case {"type": "point", "x": 0, "y": 0}: return "origin"
        case {"type": "point", "x": x, "y": y}: return f"point {x},{y}"
        case [first, *rest] if len(rest) > 1: return f"list from {first} (+{len(rest)})"
        case [x]: return f"one {x}"
        case int() | float() as num if num < 0: return "negative"
        case str(s): return "str " + s
        case _: return "other"
[describe({"type": "point", "x": 0, "y": 0}), describe({"type": "point", "x": 1, "y": 2}), describe([1, 2, 3]), describe([9]), describe(-3.5), describe("hi"), describe(None)]
