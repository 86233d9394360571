# expect: "{'a': {'nested': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'},\n 'b': [0,\n       1,\n       2,\n       3,\n       4,\n       5,\n       6,\n       7,\n       8,\n       9,\n       10,\n       11]}"
import pprint
pprint.pformat({"b": list(range(12)), "a": {"nested": "x" * 30}}, width=40)
