# expect: null
# stdout: "a b c\n1-2-3!\n[1, 'x']\n"
print("a", "b", "c")
print(1, 2, 3, sep="-", end="!\n")
print([1, "x"])
None
