# expect: [[2,3,9],[2,3],true,false]
import copy
a = {"l": [1, [2, 3]], "s": {4}}
b = copy.copy(a); c = copy.deepcopy(a)
a["l"][1].append(9)
[b["l"][1], c["l"][1], b["l"] is a["l"], c["l"] is a["l"]]
