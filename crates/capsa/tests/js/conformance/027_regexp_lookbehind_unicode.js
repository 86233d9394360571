// expect: [["30","45.5"],["1","3"],["héllo","wörld","Ωmega","日本"],true,["B","D"],2,true,false,["100","300"],["foobar"],true]
// covers: RegExp lookbehind (positive/negative), lookahead, unicode property escapes \p{L} \p{Lu} \p{Script=Greek}, u flag with astral chars
const prices = 'USD 10, EUR 20, $30, $45.5';
const dollars = prices.match(/(?<=\$)\d+(\.\d+)?/g);
const notDollar = '1 $2 3'.match(/(?<!\$)\b\d/g);
const letters = 'héllo, wörld! 123 Ωmega 日本'.match(/\p{L}+/gu);
const greek = /^\p{Script=Greek}+$/u.test('αβγ');
const upper = 'aBcDé'.match(/\p{Lu}/gu);
const emoji = '👍 ok 🎉'.match(/\p{Extended_Pictographic}/gu);
const astral = /^.$/u.test('😀');
const nonUnicode = /^.$/.test('😀');
const lookahead = 'price: 100px 200em 300px'.match(/\d+(?=px)/g);
const negLookahead = 'foo1 foo2 foobar'.match(/foo(?!\d)\w*/g);
const codepoint = /\u{1F600}/u.test('😀');
[dollars, notDollar, letters, greek, upper, emoji.length, astral, nonUnicode, lookahead, negLookahead, codepoint]
