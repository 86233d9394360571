# expect: [1,[4,10,18],3.0,"HI"]
import operator
rows = [{"n": "b", "v": 2}, {"n": "a", "v": 1}]
[sorted(rows, key=operator.itemgetter("n"))[0]["v"], list(map(operator.mul, [1, 2, 3], [4, 5, 6])), operator.attrgetter("real")(3 + 4j), operator.methodcaller("upper")("hi")]
