# expect: [2880067194370816120,3628800,6,"int","other",true]
import functools
@functools.lru_cache(maxsize=None)
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
add3 = functools.partial(lambda a, b, c: a + b + c, 1, 2)
@functools.singledispatch
def kind(x): return "other"
@kind.register
def _(x: int): return "int"
[fib(90), functools.reduce(lambda a, b: a * b, range(1, 11)), add3(3), kind(1), kind("s"), fib.cache_info().hits > 0]
