// expect: ["recovered","catch:x","onRejected:y","z","v",true,"string","thenable rejected","first","SyntaxError",["caught RangeError:inner","finally","finally-called"]]
// covers: async try/catch/finally, rejected promises with catch/then(onRejected)/finally, awaiting rejecting thenables, settle-once promises, executor throws
const log = [];
async function fails(msg) { await null; throw new RangeError(msg); }
async function safe() {
  try { await fails('inner'); return 'unreachable'; }
  catch (e) { log.push('caught ' + e.name + ':' + e.message); return 'recovered'; }
  finally { log.push('finally'); }
}
const r1 = await safe();
const r2 = await fails('x').catch(e => 'catch:' + e.message);
const r3 = await fails('y').then(() => 'then', e => 'onRejected:' + e.message);
const r4 = await Promise.reject(new Error('z')).finally(() => log.push('finally-called')).catch(e => e.message);
const r5 = await Promise.resolve('v').finally(() => 'ignored');
let r6;
try { await Promise.reject(new TypeError('direct')); } catch (e) { r6 = e instanceof TypeError; }
const r7 = await (async () => { throw 'non-error'; })().catch(e => typeof e);
const thenable = { then(resolve, reject) { reject(new Error('thenable rejected')); } };
let r8;
try { await thenable; } catch (e) { r8 = e.message; }
const r9 = await new Promise((resolve, reject) => { resolve('first'); reject(new Error('ignored')); resolve('second'); });
const r10 = await new Promise(() => { throw new SyntaxError('executor'); }).catch(e => e.name);
const results = [r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, log];
results
