// expect: [true,false,false,true,3,65533,true,"a%EF%BF%BDb",-1,1,0,["apple","fig","pear"]]
// covers: String isWellFormed/toWellFormed with lone surrogates, basic localeCompare on lowercase ASCII
const good = 'ab😀';
const lone = 'a\uD800b';
const loneLow = '\uDC00x';
const fixed = lone.toWellFormed();
[good.isWellFormed(), lone.isWellFormed(), loneLow.isWellFormed(), fixed === 'a\uFFFDb', fixed.length, loneLow.toWellFormed().charCodeAt(0), good.toWellFormed() === good, encodeURIComponent(fixed), Math.sign('a'.localeCompare('b')), Math.sign('b'.localeCompare('a')), 'same'.localeCompare('same'), ['pear', 'apple', 'fig'].sort((a, b) => a.localeCompare(b))]
