// expect: ["g",false,"fn","a","object",true,false,true,["function","function","object","object","function","object","function","function","function","function","object"],false,"undefined",false]
// covers: globalThis, top-level var/function become global properties (non-configurable), let does not, built-in globals, global property attributes
var globalVar = 'g';
let lexical = 'l';
function globalFn() { return 'fn'; }
globalThis.assigned = 'a';
const descr = Object.getOwnPropertyDescriptor(globalThis, 'globalVar');
const builtins = ['Array', 'Object', 'JSON', 'Math', 'Promise', 'Reflect', 'Proxy', 'Map', 'BigInt', 'Symbol', 'globalThis'].map(n => typeof globalThis[n]);
[globalThis.globalVar, 'lexical' in globalThis, globalThis.globalFn(), assigned, typeof globalThis, globalThis === globalThis.globalThis, descr.configurable, descr.enumerable, builtins, Object.getOwnPropertyDescriptor(globalThis, 'globalThis').enumerable, typeof globalThis.undefined, Object.getOwnPropertyDescriptor(globalThis, 'NaN').writable]
