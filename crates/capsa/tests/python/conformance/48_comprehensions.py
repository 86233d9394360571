# expect: [[[1,2,3],[2,4,6],[3,6,9]],{"a":0,"b":1,"c":2},[0,1,2],[6,6,9],5050]
m = [[i * j for j in range(1, 4)] for i in range(1, 4)]
[m, {k: v for k, v in zip("abc", range(3))}, sorted({x % 3 for x in range(10)}), [x for row in m for x in row if x > 4], sum(i for i in range(101))]
