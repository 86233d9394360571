// expect: [[0,"",false,"D","D",null],["D","D","D","D","D","D"],{"a":"a","b":"b","c":"set","d":"d","e":"e"},4,1,"init","x"]
// covers: nullish coalescing vs ||, logical assignment ??= ||= &&= with short-circuit (no evaluation, no write to frozen object)
const vals = [0, '', false, null, undefined, NaN];
const nullish = vals.map(v => v ?? 'D');
const orred = vals.map(v => v || 'D');
const o = { a: 0, b: null, c: 'set', d: 1 };
let calls = 0;
const make = (v) => { calls++; return v; };
o.a ||= make('a');
o.b ??= make('b');
o.c ??= make('never');
o.d &&= make('d');
o.e ??= make('e');
o.c ||= make('never');
const frozen = Object.freeze({ x: 1 });
frozen.x ||= 2;
let undef;
undef ??= 'init';
const mixed = (null ?? 0) || 'x';
[nullish, orred, o, calls, frozen.x, undef, mixed]
