# expect: [3,"add",["add"],["hi x","hi x","hi x"],"static"]
import functools
calls = []
def logged(fn):
    @functools.wraps(fn)
    def wrapper(*a, **k):
        calls.append(fn.__name__)
        return fn(*a, **k)
    return wrapper
def repeat(n):
    def deco(fn):
        def wrapper(*a): return [fn(*a) for _ in range(n)]
        return wrapper
    return deco
@logged
def add(a, b): return a + b
@repeat(3)
def hi(name): return "hi " + name
class C:
    @staticmethod
    def s(): return "static"
[add(1, 2), add.__name__, calls, hi("x"), C.s()]
