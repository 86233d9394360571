// expect: ["square:Sq(4)","square:Sq(4)","dynamic method",1,2,"Shape(0)","Sq","Sq","undefined",["Sq","Shape","Sq"],"literal>proto greet",["id","onClick","sides"],["constructor","description","dynamic","toString"],true,"","Named"]
// covers: class getters overridden with super getter, computed method names, public instance fields with arrow this-binding, named class expressions, super in object literals, field order
const methodName = 'dyn';
let counter = 0;
class Shape {
  static registry = [];
  id = ++counter;
  onClick = () => this.id;
  constructor(sides) { this.sides = sides; Shape.registry.push(this.constructor.name); }
  get description() { return `${this.constructor.name}(${this.sides})`; }
  [methodName + 'amic']() { return 'dynamic method'; }
  static [`make${'Default'}`]() { return new this(0); }
  toString() { return this.description; }
}
const Square = class Sq extends Shape {
  constructor() { super(4); }
  get description() { return 'square:' + super.description; }
  static innerName() { return Sq.name; }
};
const proto = { greet() { return 'proto greet'; } };
const literal = { __proto__: proto, greet() { return 'literal>' + super.greet(); } };
const sq = new Square();
const clicked = sq.onClick;
const shape = Shape.makeDefault();
[sq.description, String(sq), sq.dynamic(), clicked(), shape.id, shape.description, Square.name, Square.innerName(), typeof Sq, Shape.registry, literal.greet(), Object.keys(sq), Object.getOwnPropertyNames(Shape.prototype).sort(), Square.makeDefault() instanceof Square, (class {}).name, (class Named {}).name]
