# expect: [[["i",4],["s",4]],{"a":[1,3],"b":[2]},[0,2,3],{"x":1,"y":2},["b","a"],3]
from collections import Counter, defaultdict, deque, OrderedDict, namedtuple, ChainMap
c = Counter("mississippi")
d = defaultdict(list)
for k, v in [("a", 1), ("b", 2), ("a", 3)]:
    d[k].append(v)
q = deque([1, 2, 3], maxlen=3); q.append(4); q.appendleft(0)
Point = namedtuple("Point", "x y")
o = OrderedDict(a=1, b=2); o.move_to_end("a")
[c.most_common(2), dict(d), list(q), Point(1, 2)._asdict(), list(o), ChainMap({"x": 1}, {"x": 2, "y": 3})["y"]]
