const xs = [1, 2, 3]; console.log(`sum ${xs.reduce((a, b) => a + b, 0)}`); /re[g]ex/g.test("x"); xs.map(x => x * 2)
