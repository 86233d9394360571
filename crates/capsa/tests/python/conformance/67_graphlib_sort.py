# expect: [true,4]
from graphlib import TopologicalSorter
ts = TopologicalSorter({"app": {"lib", "config"}, "lib": {"core"}, "config": set(), "core": set()})
order = list(ts.static_order())
[order.index("core") < order.index("lib") < order.index("app"), len(order)]
