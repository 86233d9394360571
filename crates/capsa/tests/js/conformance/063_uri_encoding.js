// expect: ["a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25%C3%A9%F0%9F%98%80",true,"https://ex.com/a%20b/%C3%BC?q=1&r=a%20b#frag","A%2F ","A/ ","-_.!~*'()",";,/?:@&=+$#","%3B%2C%2F%3F%3A%40%26%3D%2B%24%23",["URIError","URIError","URIError","URIError"],"a%20b+%E9","AB"]
// covers: encodeURIComponent/decodeURIComponent, encodeURI/decodeURI reserved sets, UTF-8 multi-byte and astral encoding, URIError cases, escape/unescape
const raw = 'a b&c=d/e?f#g+h%é😀';
const enc = encodeURIComponent(raw);
const encUri = encodeURI('https://ex.com/a b/ü?q=1&r=a b#frag');
const errs = [];
for (const fn of [() => decodeURIComponent('%'), () => decodeURIComponent('%E0%A4%A'), () => encodeURIComponent('\uD800'), () => decodeURI('%C0%80')]) {
  try { fn(); errs.push('ok'); } catch (e) { errs.push(e.name); }
}
[enc, decodeURIComponent(enc) === raw, encUri, decodeURI('%41%2F%20'), decodeURIComponent('%41%2F%20'), encodeURIComponent("-_.!~*'()"), encodeURI(';,/?:@&=+$#'), encodeURIComponent(';,/?:@&=+$#'), errs, escape('a b+\u00e9'), unescape('%u0041%42')]
