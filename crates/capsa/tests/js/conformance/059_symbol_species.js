// expect: [true,true,20,4,4,false,true,true,true,false,true,1,0,true,[2,3],true,true,9,true,"[1,2,3,4]"]
// covers: subclassing Array/Promise/Map/TypedArray, Symbol.species controlling derived-object constructors (map/filter/then/subarray/concat/slice)
class MyArray extends Array {
  sum() { return this.reduce((a, b) => a + b, 0); }
}
class PlainSpecies extends Array {
  static get [Symbol.species]() { return Array; }
}
const m = MyArray.from([1, 2, 3, 4]);
const mapped = m.map(x => x * 2);
const filtered = m.filter(x => x % 2);
const p = PlainSpecies.of(1, 2, 3);
const pm = p.map(x => x);
class MyPromise extends Promise {}
const mp = MyPromise.resolve(1).then(x => x);
class NoSpeciesPromise extends Promise { static get [Symbol.species]() { return Promise; } }
const np = NoSpeciesPromise.resolve(1).then(x => x);
class MyMap extends Map { getOr(k, d) { return this.has(k) ? this.get(k) : d; } }
const mm = new MyMap([['a', 1]]);
class Bytes extends Uint8Array {}
const bs = new Bytes([1, 2, 3]).subarray(1);
[m instanceof MyArray, mapped instanceof MyArray, mapped.sum(), filtered.sum(), m.length, pm instanceof PlainSpecies, pm instanceof Array, p instanceof PlainSpecies, mp instanceof MyPromise, np instanceof NoSpeciesPromise, np instanceof Promise, mm.getOr('a', 0), mm.getOr('z', 0), bs instanceof Bytes, Array.from(bs), Array[Symbol.species] === Array, m.concat([5]) instanceof MyArray, m.slice(1).sum(), Array.isArray(m), JSON.stringify(m)]
