// expect: [["TypeError","ok","ok","TypeError","TypeError","TypeError","ok","TypeError"],1,3,2,false,true,false,true,false,false,true,true,{"value":1,"writable":false,"enumerable":true,"configurable":false}]
// covers: Object.freeze (shallow), seal, preventExtensions, isFrozen/isSealed/isExtensible, strict-mode write errors
const frozen = Object.freeze({ a: 1, nested: { b: 2 } });
const sealed = Object.seal({ s: 1 });
const nonExt = Object.preventExtensions({ p: 1 });
const results = [];
const attempt = (fn) => { try { fn(); return 'ok'; } catch (e) { return e.name; } };
results.push(attempt(() => { 'use strict'; frozen.a = 2; }));
results.push(attempt(() => { 'use strict'; frozen.nested.b = 3; }));
results.push(attempt(() => { 'use strict'; sealed.s = 2; }));
results.push(attempt(() => { 'use strict'; sealed.t = 2; }));
results.push(attempt(() => { 'use strict'; delete sealed.s; }));
results.push(attempt(() => { 'use strict'; nonExt.q = 1; }));
results.push(attempt(() => { 'use strict'; delete nonExt.p; }));
const arr = Object.freeze([1, 2]);
results.push(attempt(() => arr.push(3)));
[results, frozen.a, frozen.nested.b, sealed.s, 'p' in nonExt, Object.isFrozen(frozen), Object.isFrozen(frozen.nested), Object.isSealed(sealed), Object.isFrozen(sealed), Object.isExtensible(nonExt), Object.isFrozen(Object.preventExtensions({})), Object.isFrozen(1), Object.getOwnPropertyDescriptor(frozen, 'a')]
