// expect: [20,2,[null,null,"undefined"],[true,true,false,true,true,true,2,false],["number","bigint","string","boolean","undefined","object","object","object","function","function","symbol","undefined","object","object","object"],[true,true,false,true,true,true],[1024,512,4,0.25],9,[1000000,170,65535,10.01,63,10000000000],[true,false,true,true,false,true,false,false],[1,7,6,-6,-2147483648,-4,15,0],[12,"34","75",3,0,0,null,null,"[object Object]","1,23"]]
// covers: comma operator, void, delete, typeof, in operator, exponent operator (right assoc, **=), numeric separators, loose equality, bitwise ops, coercions
const obj = { a: 1, b: undefined };
const arr = [10, 20];
let x = 0;
const comma = (x++, x++, x * 10);
const voids = [void 0, void 'ignored', typeof void 0];
const del = [delete obj.a, delete obj.nonexistent, 'a' in obj, 'b' in obj, obj.hasOwnProperty('b'), delete arr[0], arr.length, 0 in arr];
const types = [typeof 1, typeof 1n, typeof 'x', typeof true, typeof undefined, typeof null, typeof {}, typeof [], typeof function () {}, typeof class {}, typeof Symbol(), typeof notDeclaredAnywhere, typeof new Number(1), typeof Math, typeof JSON];
const inOps = ['length' in [], 0 in [1], 1 in [1], 'toString' in {}, Symbol.iterator in [], 'x' in { x: undefined }];
const exp = [2 ** 10, 2 ** 3 ** 2, (-2) ** 2, 2 ** -2];
let e = 3; e **= 2;
const sep = [1_000_000, 0b1010_1010, 0xFF_FF, 1_0.0_1, 0o7_7, 1e1_0];
const loose = [null == undefined, null === undefined, '1' == 1, 0 == '', NaN == NaN, [1] == 1, null == 0, undefined == 0];
const bit = [5 & 3, 5 | 3, 5 ^ 3, ~5, 1 << 31, -8 >> 1, -8 >>> 28, 2 ** 32 | 0];
const misc = ['3' * '4', '3' + 4, 3 + 4 + '5', '5' - 2, +'', +[], +{}, -'x', [] + {}, [1, 2] + [3]];
[comma, x, voids, del, types, inOps, exp, e, sep, loose, bit, misc]
