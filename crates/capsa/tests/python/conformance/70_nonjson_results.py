# expect: [{"1":"int key","null":"none"},[1,2],1.5]
[{1: "int key", None: "none"}, (1, 2), float("inf") if False else 1.5]
