# expect: [{"a":1,"b":2,"c":3,"e":5},[2,3],[1,2,3,4],[1,4],[1],0,5,["e",5],true,true]
d = {"a": 1, "b": 2}
d |= {"c": 3}
s1, s2 = {1, 2, 3}, {2, 3, 4}
[d, sorted(s1 & s2), sorted(s1 | s2), sorted(s1 ^ s2), sorted(s1 - s2), d.get("z", 0), d.setdefault("e", 5), list(d.items())[-1], {1, 2} <= s1, frozenset([1]) in {frozenset([1])}]
