// expect: [false,"tag",true,"app.key",null,null,"Symbol(tag)","symbol",["visible"],1,"{\"visible\":1}",42,"$42","default","[object Tagged]",true,false,"Symbol.iterator","Symbol(Symbol.asyncIterator)"]
// covers: Symbol identity, description, Symbol.for/keyFor, symbol keys hidden from keys/JSON, Symbol.toPrimitive hints, toStringTag, hasInstance
const s1 = Symbol('tag');
const s2 = Symbol('tag');
const g1 = Symbol.for('app.key');
const obj = { [s1]: 'hidden', visible: 1 };
const money = {
  amount: 42,
  [Symbol.toPrimitive](hint) { return hint === 'number' ? this.amount : hint === 'string' ? `$${this.amount}` : 'default'; },
};
class Tagged { get [Symbol.toStringTag]() { return 'Tagged'; } }
class Even { static [Symbol.hasInstance](n) { return n % 2 === 0; } }
const noDesc = Symbol();
[s1 === s2, s1.description, g1 === Symbol.for('app.key'), Symbol.keyFor(g1), Symbol.keyFor(s1), noDesc.description, s1.toString(), typeof s1, Object.keys(obj), Object.getOwnPropertySymbols(obj).length, JSON.stringify(obj), +money, `${money}`, money + '', Object.prototype.toString.call(new Tagged()), 4 instanceof Even, 3 instanceof Even, Symbol.iterator.description, String(Symbol.asyncIterator)]
