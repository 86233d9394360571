# expect: [[["a","b"],["a","c"],["b","a"]],[[0,1],[0,2],[0,3],[1,2],[1,3],[2,3]],[1,3,6,10],["a","b","c"],[10,15,20,25],[1,2,3],[["a","a"],["a","b"],["b","a"],["b","b"]],[[1,2],[2,3]]]
import itertools as it
[list(it.permutations("abc", 2))[:3], list(it.combinations(range(4), 2)), list(it.accumulate([1, 2, 3, 4])), [k for k, _ in it.groupby("aaabbc")], list(it.islice(it.count(10, 5), 4)), list(it.chain.from_iterable([[1], [2, 3]])), list(it.product("ab", repeat=2)), list(it.pairwise([1, 2, 3]))]
