// expect: [["C","B","A","Object"],"B>A",true,true,true,"rabbit eats: true","longEar eats: true",true,["name"],null,false,["x"],null,"viaProto eats: true",true,false,"GeneratorFunction","AsyncFunction",true,"object"]
// covers: Object.getPrototypeOf chains, Object.create/setPrototypeOf, __proto__ in literals, shared prototype state, isPrototypeOf, function-kind prototypes
class A { hello() { return 'A'; } }
class B extends A { hello() { return 'B>' + super.hello(); } }
class C extends B {}
const c = new C();
const chain = [];
for (let p = Object.getPrototypeOf(c); p; p = Object.getPrototypeOf(p)) chain.push(p.constructor.name);
const animal = { eats: true, describe() { return `${this.name} eats: ${this.eats}`; } };
const rabbit = Object.create(animal, { name: { value: 'rabbit', enumerable: true } });
rabbit.jumps = true;
const longEar = Object.setPrototypeOf({ name: 'longEar' }, rabbit);
const bare = Object.create(null);
function Ctor() {}
Ctor.prototype.shared = [];
const i1 = new Ctor(), i2 = new Ctor();
i1.shared.push('x');
const objLit = { __proto__: animal, name: 'viaProto' };
[chain, c.hello(), A.prototype.isPrototypeOf(c), Object.getPrototypeOf(C) === B, Object.getPrototypeOf(A) === Function.prototype, rabbit.describe(), longEar.describe(), longEar.eats, Object.keys(longEar), Object.getPrototypeOf(bare), 'toString' in bare, i2.shared, Object.getPrototypeOf(Object.prototype), objLit.describe(), Object.getPrototypeOf(objLit) === animal, Object.hasOwn(objLit, '__proto__'), Object.getPrototypeOf(function* () {}).constructor.name, Object.getPrototypeOf(async () => {}).constructor.name, Object.getPrototypeOf([]) === Array.prototype, typeof Object.getPrototypeOf(Object.getPrototypeOf(1n))]
