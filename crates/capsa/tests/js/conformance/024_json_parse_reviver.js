// expect: [true,2024,[10,20,30],{"keep":10},["name","created","0","1","2","nums","drop","keep","nested",""],["SyntaxError","SyntaxError","SyntaxError","SyntaxError","SyntaxError","SyntaxError"],[1,"2",true,null,{"a":{}}],"A\n",1000,true]
// covers: JSON.parse with reviver (call order, removal, revived Dates), invalid JSON errors, escapes
const text = '{"name":"x","created":"2024-01-02T03:04:05.000Z","nums":[1,2,3],"nested":{"drop":true,"keep":1}}';
const order = [];
const parsed = JSON.parse(text, function (key, value) {
  order.push(key);
  if (key === 'created') return new Date(value);
  if (key === 'drop') return undefined;
  if (typeof value === 'number') return value * 10;
  return value;
});
const errs = [];
for (const bad of ['{a:1}', "{'a':1}", '[1,]', '01', 'undefined', '"\t"']) {
  try { JSON.parse(bad); errs.push('ok'); } catch (e) { errs.push(e.name); }
}
[parsed.created instanceof Date, parsed.created.getUTCFullYear(), parsed.nums, parsed.nested, order, errs, JSON.parse(' [1, "2", true, null, {"a": {}}] '), JSON.parse('"\\u0041\\n"'), JSON.parse('1e3'), JSON.parse('-0') === 0]
