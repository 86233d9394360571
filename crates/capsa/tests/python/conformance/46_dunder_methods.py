# expect: ["Vec(4, 6)",true,2,6,[4,6],1]
class Vec:
    def __init__(self, *xs): self.xs = xs
    def __add__(self, o): return Vec(*(a + b for a, b in zip(self.xs, o.xs)))
    def __eq__(self, o): return self.xs == o.xs
    def __len__(self): return len(self.xs)
    def __getitem__(self, i): return self.xs[i]
    def __repr__(self): return f"Vec{self.xs}"
    def __iter__(self): return iter(self.xs)
    def __hash__(self): return hash(self.xs)
v = Vec(1, 2) + Vec(3, 4)
[repr(v), v == Vec(4, 6), len(v), v[1], list(v), len({Vec(1), Vec(1)})]
