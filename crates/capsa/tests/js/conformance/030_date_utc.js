// expect: [1709214330123,"2024-02-29T13:45:30.123Z",true,true,"2024-02-29T00:00:00.000Z",4,29,1,true,"RangeError","{\"invalid\":null}","1970-01-01T00:00:00.000Z","+012345-01-01T00:00:00.000Z","-000001-01-01T00:00:00.000Z",true,"2024-02-29T13:45:30.123Z","Thu, 29 Feb 2024 13:45:30 GMT","+275760-09-13T00:00:00.000Z",true]
// covers: Date.UTC, ISO 8601 parse with Z and offsets, date-only UTC parse, toISOString (incl. extended years), invalid dates, toJSON, toUTCString, time value limits
const t = Date.UTC(2024, 1, 29, 13, 45, 30, 123);
const d = new Date(t);
const parsed = Date.parse('2024-02-29T13:45:30.123Z');
const offset = new Date('2024-02-29T15:45:30.123+02:00');
const dateOnly = new Date('2024-02-29');
const invalid = new Date('not a date');
let rangeErr;
try { invalid.toISOString(); } catch (e) { rangeErr = e.name; }
const epoch = new Date(0);
const far = new Date(Date.UTC(12345, 0, 1));
const neg = new Date(Date.UTC(-1, 0, 1));
const twoDigit = Date.UTC(99, 0, 1) === Date.UTC(1999, 0, 1);
[t, d.toISOString(), parsed === t, offset.getTime() === t, dateOnly.toISOString(), d.getUTCDay(), d.getUTCDate(), d.getUTCMonth(), isNaN(invalid), rangeErr, JSON.stringify({ invalid }), epoch.toISOString(), far.toISOString(), neg.toISOString(), twoDigit, d.toJSON(), d.toUTCString(), new Date(8.64e15).toISOString(), isNaN(new Date(8.64e15 + 1).getTime())]
