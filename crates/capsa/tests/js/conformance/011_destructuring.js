// expect: [7,"Ada","en","fr","none","dflt",{"extra":1,"more":2},1,10,[4,5],2,1,[1,"deep"],[2,3],5,"x",3,null]
// covers: nested object/array destructuring, defaults, rest, holes, swapping, parameter destructuring, computed keys
const user = { id: 7, profile: { name: 'Ada', langs: ['en', 'fr'] }, extra: 1, more: 2 };
const { id, profile: { name, langs: [first, second = 'none', third = 'none'] }, missing = 'dflt', ...rest } = user;
const [x, , y = 10, ...others] = [1, 2, undefined, 4, 5];
let a = 1, b = 2;
[a, b] = [b, a];
const fn = ({ p = 1, q: { r } = { r: 'deep' } } = {}) => [p, r];
const { length } = 'hello';
const { 0: firstChar, [`${'le'}ngth`]: len } = 'xyz';
const nullish = { v: null };
const { v = 'default-not-used-for-null' } = nullish;
[id, name, first, second, third, missing, rest, x, y, others, a, b, fn(), fn({ p: 2, q: { r: 3 } }), length, firstChar, len, v]
