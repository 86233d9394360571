# expect: [4,1,[5,9],12,6,{"a":3,"b":2},[0,1,2,"a","b"]]
data = [1, 5, 9, 12]
if (n := len(data)) > 3:
    big = n
first, *mid, last = data
a, (b, c) = 1, (2, 3)
merged = {**{"a": 1}, **{"b": 2}, "a": 3}
[big, first, mid, last, a + b + c, merged, [*range(3), *"ab"]]
