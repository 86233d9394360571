// expect: [true,true,{"target":false,"undef":true},{"target":true,"undef":false},"Base","Derived","Derived","abstract",true,"Derived",true,true,true,"TypeError"]
// covers: new.target in functions, classes, derived classes, abstract-class pattern, Reflect.construct newTarget, arrows inheriting new.target, calling class without new
function Legacy() {
  if (!new.target) return new Legacy();
  this.viaNew = true;
}
function Who() { return { target: new.target === Who, undef: new.target === undefined }; }
class Base {
  constructor() { this.created = new.target.name; }
  static make() { return new this(); }
}
class Derived extends Base {}
class Abstract { constructor() { if (new.target === Abstract) throw new TypeError('abstract'); } }
class Concrete extends Abstract {}
let abstractErr;
try { new Abstract(); } catch (e) { abstractErr = e.message; }
const reflected = Reflect.construct(Base, [], Derived);
const arrow = function () { return (() => new.target)(); };
let classCallErr;
try { Base(); } catch (e) { classCallErr = e.name; }
[Legacy().viaNew, new Legacy().viaNew, Who(), new Who(), new Base().created, new Derived().created, Derived.make().created, abstractErr, new Concrete() instanceof Abstract, reflected.created, reflected instanceof Derived, new arrow() === arrow, arrow() === undefined, classCallErr]
