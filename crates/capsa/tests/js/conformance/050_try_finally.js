// expect: ["from-try","from-catch","finally-wins","done",1,"outer caught inner","optional catch binding","b",["nested-fin","gen-finally","try","finally","catch","finally2","loop1","fin1","fin2","fin3","inner-finally"]]
// covers: try/catch/finally execution order, return override in finally, finally with break/continue, optional catch binding, generator finally on early exit
const log = [];
function f1() { try { log.push('try'); return 'from-try'; } finally { log.push('finally'); } }
function f2() { try { throw new Error('x'); } catch (e) { log.push('catch'); return 'from-catch'; } finally { log.push('finally2'); } }
function f3() { try { return 'try'; } finally { return 'finally-wins'; } }
function f4() { for (const i of [1, 2, 3]) { try { if (i === 2) continue; if (i === 3) break; log.push('loop' + i); } finally { log.push('fin' + i); } } return 'done'; }
function f5() { let x = 1; try { return x; } finally { x = 2; } }
function f6() { try { try { throw new Error('inner'); } finally { log.push('inner-finally'); } } catch (e) { return 'outer caught ' + e.message; } }
function f7() { try { throw 1; } catch { return 'optional catch binding'; } }
function f8() { try { throw new Error('a'); } catch (e) { try { throw new Error('b'); } finally { log.push('nested-fin'); } } }
let f8res;
try { f8(); } catch (e) { f8res = e.message; }
const gen = (function* () { try { yield 1; yield 2; } finally { log.push('gen-finally'); } })();
for (const v of gen) { if (v === 1) break; }
[f1(), f2(), f3(), f4(), f5(), f6(), f7(), f8res, log]
