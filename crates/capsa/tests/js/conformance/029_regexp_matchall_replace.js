// expect: [[["a","1",0],["b","22",2],["c","333",5]],"TypeError","a[2@1]b[44@3]c[666@6]","a-b-c","x--y","x$&y","backgroundColorRed",{"the":2,"cat":1,"hat":1},"Smith, John",1,2,null,2,"-a-a-a-"]
// covers: String.prototype.matchAll, replaceAll with function and with $ patterns, replace with callbacks, global exec/lastIndex, search, empty matches
const text = 'a1b22c333';
const all = [...text.matchAll(/([a-z])(\d+)/g)].map(m => [m[1], m[2], m.index]);
let err;
try { text.matchAll(/x/); } catch (e) { err = e.name; }
const doubled = text.replaceAll(/\d+/g, (d, offset) => `[${d * 2}@${offset}]`);
const literal = 'a.b.c'.replaceAll('.', '-');
const special = 'x-y'.replaceAll('-', '$&$&');
const dollarFn = 'x-y'.replaceAll('-', () => '$&');
const camel = 'background-color-red'.replace(/-([a-z])/g, (_, ch) => ch.toUpperCase());
const counts = {};
'the cat the hat'.replace(/\w+/g, w => { counts[w] = (counts[w] || 0) + 1; return w; });
const swapped = 'John Smith'.replace(/(\w+)\s(\w+)/, '$2, $1');
const re = /o/g;
const firstExec = re.exec('foo').index, secondExec = re.exec('foo').index, thirdExec = re.exec('foo');
const search = 'hello'.search(/l+/);
[all, err, doubled, literal, special, dollarFn, camel, counts, swapped, firstExec, secondExec, thirdExec, search, 'aaa'.replace(/a*?/g, '-')]
