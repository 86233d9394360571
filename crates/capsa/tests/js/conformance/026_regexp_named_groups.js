// expect: ["2024","03",0,"15/03/2024","03.15","\"hi\"","a","1",["a","b"],true,"y"]
// covers: RegExp named capture groups, $<name> replacement, groups in replacer functions, \k backreferences, unmatched groups
const re = /(?<year>\d{4})-(?<month>\d{2})-(?<day>\d{2})/;
const m = '2024-03-15'.match(re);
const swapped = '2024-03-15'.replace(re, '$<day>/$<month>/$<year>');
const fnReplaced = '2024-03-15'.replace(re, (...args) => { const g = args.at(-1); return `${g.month}.${g.day}`; });
const backref = /(?<q>['"]).*?\k<q>/.exec(`say "hi" 'there'`)[0];
const { groups: { key, value } } = /(?<key>\w+)=(?<value>\w+)/.exec('a=1;bb=22');
const optional = /(?<a>x)|(?<b>y)/.exec('y').groups;
[m.groups.year, m.groups.month, m.index, swapped, fnReplaced, backref, key, value, Object.keys(optional), optional.a === undefined, optional.b]
