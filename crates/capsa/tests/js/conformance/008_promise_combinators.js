// expect: [["ok:1","err:no","ok:3"],"first-ok",[true,"AggregateError",["a","b"]],"race","TypeError",[],"AggregateError:0","custom",[1,2]]
// covers: Promise.allSettled, Promise.any, AggregateError, Promise.race, Promise.all rejection, empty inputs
const settled = await Promise.allSettled([Promise.resolve(1), Promise.reject(new Error('no')), 3]);
const summary = settled.map(s => s.status === 'fulfilled' ? 'ok:' + s.value : 'err:' + s.reason.message);
const any = await Promise.any([Promise.reject(1), Promise.resolve('first-ok'), Promise.resolve('second')]);
let agg;
try { await Promise.any([Promise.reject('a'), Promise.reject('b')]); }
catch (e) { agg = [e instanceof AggregateError, e.name, e.errors]; }
const race = await Promise.race([new Promise(() => {}), Promise.resolve('race')]);
let allErr;
try { await Promise.all([1, Promise.reject(new TypeError('t')), Promise.reject(new RangeError('r'))]); } catch (e) { allErr = e.name; }
const emptyAll = await Promise.all([]);
let emptyAny;
try { await Promise.any([]); } catch (e) { emptyAny = e.constructor.name + ':' + e.errors.length; }
const made = new AggregateError([1, 2], 'custom');
const out = [summary, any, agg, race, allErr, emptyAll, emptyAny, made.message, made.errors];
out
