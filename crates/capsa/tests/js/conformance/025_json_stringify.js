// expect: ["{\n  \"b\": 2,\n  \"a\": [\n    1,\n    {\n      \"c\": \"x\"\n    }\n  ],\n  \"date\": \"2020-01-01T00:00:00.000Z\"\n}","{\n\t\"x\": [\n\t\t1\n\t]\n}","{\"a\":[1,{\"c\":\"x\"}],\"b\":2}","{\"n\":101,\"s\":\"str\",\"arr\":[102,103]}","\"custom:\"","{\"inner\":\"INNER\"}","[null,null,null,null,null,0,null]",null,"\"he said \\\"hi\\\"\\n\"",true,"\"\\ud800\"","{}","{}","[\n--[]\n]"]
// covers: JSON.stringify indentation (spaces, tab, clamping), replacer function and array, toJSON, undefined/functions/symbols in arrays become null
const data = { b: 2, a: [1, { c: 'x' }], skip: undefined, fn() {}, sym: Symbol('s'), date: new Date(Date.UTC(2020, 0, 1)) };
const pretty = JSON.stringify(data, null, 2);
const tabbed = JSON.stringify({ x: [1] }, null, '\t');
const filtered = JSON.stringify(data, ['a', 'c', 'b']);
const replaced = JSON.stringify({ n: 1, s: 'str', arr: [2, 3] }, (k, v) => typeof v === 'number' ? v + 100 : v);
const custom = JSON.stringify({ toJSON(key) { return 'custom:' + key; } });
const nestedToJSON = JSON.stringify({ inner: { toJSON(key) { return key.toUpperCase(); } } });
[pretty, tabbed, filtered, replaced, custom, nestedToJSON, JSON.stringify([undefined, function () {}, Symbol('x'), NaN, Infinity, -0, null]), JSON.stringify(undefined), JSON.stringify('he said "hi"\n'), JSON.stringify({ a: 1 }, null, 20) === JSON.stringify({ a: 1 }, null, 10), JSON.stringify('\ud800'), JSON.stringify(new Map([[1, 2]])), JSON.stringify(Object.create({ inherited: 1 })), JSON.stringify([[]], null, '--')]
