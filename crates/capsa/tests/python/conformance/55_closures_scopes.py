# expect: [7,11,11,[0,2,4]]
def counter():
    n = 0
    def inc(step=1):
        nonlocal n
        n += step
        return n
    return inc
c = counter(); c(); c(5)
x = 10
def g():
    global x
    x += 1
    return x
funcs = [lambda i=i: i * 2 for i in range(3)]
[c(), g(), x, [f() for f in funcs]]
