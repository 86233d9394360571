# expect: [true,[3,29],5,"March",[0,0,0,1,2,3,4]]
import calendar
[calendar.isleap(2024), calendar.monthrange(2024, 2), calendar.weekday(2000, 1, 1), calendar.month_name[3], calendar.monthcalendar(2024, 2)[0]]
