// expect: [["10","20","21"],["start","after"],5,[3,4],[1]]
// covers: labelled loops with break/continue to outer labels, labelled blocks, continue from do-while to outer while, labels with switch
const pairs = [];
outer: for (let i = 0; i < 4; i++) {
  inner: for (let j = 0; j < 4; j++) {
    if (j === i) continue outer;
    if (i === 3) break outer;
    if (j > 1) break inner;
    pairs.push(`${i}${j}`);
  }
}
const blockLog = [];
block: {
  blockLog.push('start');
  if (pairs.length) break block;
  blockLog.push('unreachable');
}
blockLog.push('after');
let count = 0;
loop1: while (true) {
  do { count++; if (count >= 5) break loop1; continue loop1; } while (false);
}
const found = (() => {
  search: for (const row of [[1, 2], [3, 4], [5, 6]]) {
    for (const v of row) if (v === 4) { return row; }
  }
  return null;
})();
const sw = [];
lbl: for (const x of [1, 2, 3]) {
  switch (x) { case 2: continue lbl; case 3: break lbl; }
  sw.push(x);
}
[pairs, blockLog, count, found, sw]
