# expect: ["(a, b=2, *args, c, **kw)",["a","b","args","c","kw"],true,"doc",["m"],true]
import inspect
def f(a, b=2, *args, c, **kw):
    "doc"
    return a
class K:
    def m(self): pass
sig = inspect.signature(f)
[str(sig), list(sig.parameters), inspect.isfunction(f), inspect.getdoc(f), [n for n, _ in inspect.getmembers(K, inspect.isfunction)], inspect.isclass(K)]
