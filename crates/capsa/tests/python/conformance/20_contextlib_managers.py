# expect: ["<a","<b","body","b>","a>","<x","<y","y>","x>"]
from contextlib import contextmanager, suppress, ExitStack
log = []
@contextmanager
def tag(name):
    log.append("<" + name)
    try:
        yield name
    finally:
        log.append(name + ">")
with tag("a") as a, tag("b"):
    log.append("body")
with suppress(KeyError):
    {}["x"]
with ExitStack() as stack:
    for n in "xy":
        stack.enter_context(tag(n))
log
