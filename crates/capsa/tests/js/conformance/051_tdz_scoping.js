// expect: [["ReferenceError","ReferenceError","TypeError","ReferenceError","TypeError","inner"],[3,3,3],[0,1,2],2,1,"outer","function","undefined","p","undefined"]
// covers: let/const temporal dead zone (ReferenceError), const reassignment, strict undeclared assignment, closures over var vs let loop bindings, hoisting, shadowing
const results = [];
try { tdzVar; let tdzVar = 1; } catch (e) { results.push(e.name); }
try { typeof tdzType; let tdzType; } catch (e) { results.push(e.name); }
try { const c = 1; c = 2; } catch (e) { results.push(e.name); }
try { (function () { 'use strict'; undeclaredStrictName = 1; })(); } catch (e) { results.push(e.name); }
try { new (class { #x = this.#y; #y = 1; })(); } catch (e) { results.push(e.name); }
const fnsVar = [], fnsLet = [];
for (var i = 0; i < 3; i++) fnsVar.push(() => i);
for (let j = 0; j < 3; j++) fnsLet.push(() => j);
function makeCounter() { let n = 0; return { inc: () => ++n, get: () => n }; }
const c1 = makeCounter(), c2 = makeCounter();
c1.inc(); c1.inc(); c2.inc();
let shadow = 'outer';
{ let shadow = 'inner'; results.push(shadow); }
const hoisted = typeof laterFn;
function laterFn() {}
const varHoist = typeof hoistedVar;
var hoistedVar = 1;
const iife = (() => { const priv = 'p'; return () => priv; })();
[results, fnsVar.map(f => f()), fnsLet.map(f => f()), c1.get(), c2.get(), shadow, hoisted, varHoist, iife(), typeof undeclaredName]
