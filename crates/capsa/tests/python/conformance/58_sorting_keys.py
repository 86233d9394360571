# expect: [[["ada",36],["cy",36],["bob",25],["di",19]],["apple","Banana","Cherry"],["di",19],[3,2,1],[2,1,0]]
people = [("ada", 36), ("bob", 25), ("cy", 36), ("di", 19)]
[sorted(people, key=lambda p: (-p[1], p[0])), sorted("Banana apple Cherry".split(), key=str.lower), min(people, key=lambda p: p[1]), sorted([3, 1, 2], reverse=True), list(reversed(range(3)))]
