// expect: [["2","10","z","a","-1","01","1.5"],["2","10","z","a","-1","01","1.5"],"{\"2\":\"two\",\"10\":\"ten\",\"z\":1,\"a\":2,\"-1\":\"neg\",\"01\":\"zeroOne\",\"1.5\":\"frac\"}",["1","b","a"],["second","first"],["z","a",1],["b","c","a"],"abc"]
// covers: own property enumeration order (integer keys ascending, then strings by insertion), for-in, JSON, Object.assign, re-added keys, Map order, class field order
const o = {};
o.z = 1; o[10] = 'ten'; o.a = 2; o[2] = 'two'; o['-1'] = 'neg'; o['01'] = 'zeroOne'; o[Symbol('s')] = 's'; o[1.5] = 'frac';
const keys = Object.keys(o);
const forIn = []; for (const k in o) forIn.push(k);
const json = JSON.stringify(o);
const assigned = Object.assign({}, { b: 1, a: 2 }, { 1: 'x', b: 3 });
const redefined = { first: 1, second: 2 }; delete redefined.first; redefined.first = 1;
const mapOrder = [...new Map([['z', 1], ['a', 2], [1, 3]]).keys()];
class K { b = 1; constructor() { this.a = 2; } c = 3; }
[keys, forIn, json, Object.keys(assigned), Object.keys(redefined), mapOrder, Object.keys(new K()), Object.entries({ 3: 'c', 1: 'a', 2: 'b' }).map(e => e[1]).join('')]
