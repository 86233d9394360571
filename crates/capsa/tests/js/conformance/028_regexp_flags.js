// expect: [true,6,false,["12","+","(","3","*","4",")","-","5"],true,false,[2,5],[2,5],null,[2,5],true,["two","three"],true,"dgimsuy","a+",true,"/a\\/b/","\\/"]
// covers: RegExp sticky flag and lastIndex, tokenizing with y, dotAll s flag, d flag match indices (incl. named groups), multiline, flags order, source escaping
const sticky = /foo/y;
sticky.lastIndex = 3;
const s1 = sticky.test('barfoo');
const s2 = sticky.lastIndex;
const s3 = sticky.test('barfoo');
const tokens = [];
const tok = /\s*(\d+|[+*()-])/y;
let mm;
while ((mm = tok.exec('12 + (3*4)-5'))) tokens.push(mm[1]);
const dotAll = /a.b/s.test('a\nb');
const noDotAll = /a.b/.test('a\nb');
const d = /(?<word>b+)(c)?/d.exec('aabbbd');
const multi = 'one\ntwo\nthree'.match(/^t\w+$/gm);
const ci = /ÄB/iu.test('äb');
const flags = /x/gimsuyd.flags;
const re = new RegExp('a+', 'g');
[s1, s2, s3, tokens, dotAll, noDotAll, d.indices[0], d.indices[1], d.indices[2], d.indices.groups.word, /x/d.hasIndices, multi, ci, flags, re.source, re.global, String(/a\/b/), new RegExp('/').source]
