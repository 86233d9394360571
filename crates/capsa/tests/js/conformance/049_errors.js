// expect: ["invalid email","ValidationError","email",true,"root cause",true,true,false,"ValidationError: invalid email",false,"[object Error]",["TypeError","ReferenceError","HttpError","RangeError","SyntaxError","string","URIError","SyntaxError","TypeError","ReferenceError"],"HttpError",500,"HttpError: status 500",["name","status"],true,true,true,false,"Error",true]
// covers: Error cause, custom Error subclasses, instanceof, error names of built-in failures, thrown non-errors, Error.prototype.toString
class ValidationError extends Error {
  constructor(field, options) { super(`invalid ${field}`, options); this.name = 'ValidationError'; this.field = field; }
}
class HttpError extends Error { name = 'HttpError'; constructor(status) { super('status ' + status); this.status = status; } }
const root = new TypeError('root cause');
const wrapped = new ValidationError('email', { cause: root });
const plain = new Error('plain');
const collected = [];
const failing = [
  () => null.x,
  () => undefinedVariable,
  () => { throw new HttpError(404); },
  () => new Array(-1),
  () => JSON.parse('{'),
  () => { throw 'str'; },
  () => decodeURIComponent('%'),
  () => BigInt('x'),
  () => Symbol() + '',
  () => { class A { constructor() { this.x; } } class B extends A { constructor() { this.y = 1; super(); } } new B(); },
];
for (const fn of failing) {
  try { fn(); collected.push('no error'); } catch (e) { collected.push(e instanceof Error ? e.name : typeof e); }
}
const err = new HttpError(500);
[wrapped.message, wrapped.name, wrapped.field, wrapped.cause === root, wrapped.cause.message, wrapped instanceof ValidationError, wrapped instanceof Error, wrapped instanceof TypeError, String(wrapped), 'cause' in plain, Object.prototype.toString.call(wrapped), collected, err.name, err.status, String(err), Object.keys(err), err.constructor === HttpError, Error('no new') instanceof Error, new Error('m', { cause: undefined }).hasOwnProperty('cause'), Object.getOwnPropertyDescriptor(plain, 'message').enumerable, Error.prototype.name, RangeError.prototype instanceof Error]
