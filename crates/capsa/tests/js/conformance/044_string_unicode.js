// expect: [2,1,128512,56832,55357,56832,true,true,8,5,4,2,false,true,true,1,"fi","1",2,2,["61","1f600","62"],true,false,true,"evïan","äöü","%F0%9F%98%80"]
// covers: UTF-16 length vs code points for emoji/ZWJ/flags, surrogate pairs, codePointAt/charCodeAt/fromCodePoint, normalize NFC/NFD/NFKC/NFKD
const emoji = '😀';
const family = '👨‍👩‍👧';
const flag = '🇫🇷';
const composed = '\u00e9';
const decomposed = 'e\u0301';
[emoji.length, [...emoji].length, emoji.codePointAt(0), emoji.codePointAt(1), emoji.charCodeAt(0), emoji.charCodeAt(1), String.fromCodePoint(0x1F600) === emoji, String.fromCharCode(0xD83D, 0xDE00) === emoji, family.length, [...family].length, flag.length, [...flag].length, composed === decomposed, composed.normalize('NFD') === decomposed, decomposed.normalize() === composed, decomposed.normalize('NFC').length, '\ufb01'.normalize('NFKC'), '\u2460'.normalize('NFKD'), '\u00c5'.normalize('NFD').length, emoji.split('').length, Array.from('a😀b').map(c => c.codePointAt(0).toString(16)), '\u{1F600}' === emoji, 'abc😀'.at(-1) === emoji, 'abc😀'.slice(-2) === emoji, [...'na\u00efve'].reverse().join(''), '\u00c4\u00d6\u00dc'.toLowerCase(), encodeURIComponent(emoji)]
