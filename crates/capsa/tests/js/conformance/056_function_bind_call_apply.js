// expect: ["Hello, Ada!","Hey, Ada.","Hi, Ada!","Hi, Ada?","bound greet",1,2,"bound bound greet",1,2,true,true,9,["b","c"],42,7,3,"undefined","Yo, X"]
// covers: Function.prototype.call/apply/bind, partial application, bound function name/length, rebinding, bound constructors with new, borrowing array methods
function greet(greeting, punct) { return `${greeting}, ${this.name}${punct}`; }
const ada = { name: 'Ada' };
const bound = greet.bind(ada, 'Hi');
const rebound = bound.bind({ name: 'Other' }, '?');
function Point(x, y) { this.x = x; this.y = y; }
const BoundPoint = Point.bind(null, 1);
const bp = new BoundPoint(2);
const max = Math.max.apply(null, [3, 9, 4]);
const sliced = Array.prototype.slice.call('abc', 1);
const method = { v: 42, get() { return this.v; } };
const detached = method.get;
function variadic() { return arguments.length; }
[greet.call(ada, 'Hello', '!'), greet.apply(ada, ['Hey', '.']), bound('!'), rebound(), bound.name, bound.length, greet.length, rebound.name, bp.x, bp.y, bp instanceof Point, bp instanceof BoundPoint, max, sliced, detached.call(method), detached.call({ v: 7 }), variadic.apply(null, { length: 3 }), typeof BoundPoint.prototype, Function.prototype.call.call(greet, { name: 'X' }, 'Yo', '')]
