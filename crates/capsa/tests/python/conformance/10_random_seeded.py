# expect: [82,15,4,95,36,"b",[17,28,94]]
import random
r = random.Random(42)
[r.randint(1, 100) for _ in range(5)] + [r.choice("abcdef"), sorted(r.sample(range(100), 3))]
