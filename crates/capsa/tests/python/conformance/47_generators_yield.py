# expect: [[0,1,1,2,3,5,8,13,21,34],["a","b"],[1,9]]
def fib():
    a, b = 0, 1
    while True:
        yield a
        a, b = b, a + b
def take(n, g):
    return [next(g) for _ in range(n)]
def echo():
    received = []
    while True:
        x = yield len(received)
        if x is None: break
        received.append(x)
    return received
g = echo(); next(g); g.send("a"); g.send("b")
try:
    g.send(None)
except StopIteration as stop:
    got = stop.value
def delegate():
    r = yield from echo()
    return r
[take(10, fib()), got, list(x * x for x in range(5) if x % 2)]
