// expect: [1,"no_zzz",{"b":2,"c":10},true,["c"],["get:a","get:zzz","set:c=5","has:a","delete:a","ownKeys"],20,{"constructed":[1,2]},"TypeError"]
// covers: Proxy get/set/has/deleteProperty/ownKeys/apply/construct traps, Proxy.revocable
const log = [];
const target = { a: 1, b: 2 };
const traps = {
  get(t, k, r) { log.push(`get:${String(k)}`); return k in t ? Reflect.get(t, k, r) : `no_${String(k)}`; },
  set(t, k, v, r) { log.push(`set:${k}=${v}`); return Reflect.set(t, k, v * 2, r); },
  has(t, k) { log.push(`has:${k}`); return k.startsWith('_') ? false : k in t; },
  deleteProperty(t, k) { log.push(`delete:${k}`); return delete t[k]; },
  ownKeys(t) { log.push('ownKeys'); return Reflect.ownKeys(t).filter(k => k !== 'b'); },
};
const p = new Proxy(target, traps);
const r1 = p.a;
const r2 = p.zzz;
p.c = 5;
const r3 = 'a' in p;
delete p.a;
const keys = Object.keys(p);
const fnProxy = new Proxy(function (x) { return x + 1; }, {
  apply(t, thisArg, args) { return t(...args) * 10; },
  construct(t, args) { return { constructed: args }; },
});
const { proxy, revoke } = Proxy.revocable({}, {});
revoke();
let revokedErr;
try { proxy.x; } catch (e) { revokedErr = e.name; }
[r1, r2, target, r3, keys, log, fnProxy(1), new fnProxy(1, 2), revokedErr]
