// expect: ["2024-03-02T12:00:00.000Z","2024-02-29",28,359,"2025-01-04",[0,1,2,3,4,5,6],"2000-03-01T00:00:00.000Z",true,86400000,"1969-12-31T23:59:59.999Z",981158400000,"2001-02-03T00:00:00.000Z","2019-01-01T00:00:00.000Z","2019-06-01T00:00:00.000Z",1560594030000,1,-1]
// covers: UTC date arithmetic with setUTC* overflow, month ends and leap years, day differences, getUTCDay, year-only/year-month ISO forms, negative time values
const d = new Date(Date.UTC(2024, 0, 31, 12));
const plusMonth = new Date(d); plusMonth.setUTCMonth(d.getUTCMonth() + 1);
const endOfFeb = new Date(Date.UTC(2024, 2, 0));
const endOfFeb23 = new Date(Date.UTC(2023, 2, 0)).getUTCDate();
const diffDays = (Date.UTC(2024, 11, 25) - Date.UTC(2024, 0, 1)) / 86400000;
const addDays = new Date(Date.UTC(2024, 11, 30)); addDays.setUTCDate(addDays.getUTCDate() + 5);
const weekdays = [0, 1, 2, 3, 4, 5, 6].map(i => new Date(Date.UTC(2024, 5, 2 + i)).getUTCDay());
const ms = new Date('2000-02-29T23:59:59.999Z'); ms.setUTCMilliseconds(1000);
const compare = new Date(Date.UTC(2020, 0, 1)) < new Date(Date.UTC(2021, 0, 1));
const valueOf = +new Date(Date.UTC(1970, 0, 2));
const negative = new Date(-1).toISOString();
const setters = new Date(0); const setRet = setters.setUTCFullYear(2001, 1, 3);
const yearOnly = new Date('2019').toISOString();
const ymOnly = new Date('2019-06').toISOString();
const withSecs = Date.parse('2019-06-15T10:20:30Z');
[plusMonth.toISOString(), endOfFeb.toISOString().slice(0, 10), endOfFeb23, diffDays, addDays.toISOString().slice(0, 10), weekdays, ms.toISOString(), compare, valueOf, negative, setRet, setters.toISOString(), yearOnly, ymOnly, withSecs, new Date(Date.UTC(2024, 0, 1)).getUTCDay(), Date.UTC(1970, 0, 1, 0, 0, 0, -1)]
