// expect: [{"strings":["x","y\n","z"],"raw":["x","y\\n","z"],"vals":[1,"two"],"frozen":true},true,false,"<p>&lt;b></p>",[null,"\\unicode"],"C:\\new\\table2\\x",15,"a1b2c","outer inner 2 end","b5","line1\nline2"]
// covers: tagged templates (strings/raw/values, frozen, per-site caching, invalid escapes), String.raw (tag and call form), nested and multi-line templates
function tag(strings, ...vals) {
  return { strings: [...strings], raw: strings.raw, vals, frozen: Object.isFrozen(strings) };
}
const a = 1, b = 'two';
const t = tag`x${a}y\n${b}z`;
const sites = [];
const capture = (s) => s;
for (let i = 0; i < 2; i++) sites.push(capture`same`);
const other = capture`same`;
const html = (s, ...v) => s.reduce((acc, str, i) => acc + str + (i < v.length ? String(v[i]).replace(/</g, '&lt;') : ''), '');
const invalidEscape = ((s) => [s[0], s.raw[0]])`\unicode`;
const raw = String.raw`C:\new\table${1 + 1}\x`;
const rawCall = String.raw({ raw: ['a', 'b', 'c'] }, 1, 2, 3);
const nested = `outer ${`inner ${a + 1}`} end`;
const member = { m(s, x) { return this === member && s[1] + x; } };
[t, sites[0] === sites[1], sites[0] === other, html`<p>${'<b>'}</p>`, invalidEscape, raw, raw.length, rawCall, nested, member.m`a${5}b`, `line1
line2`]
