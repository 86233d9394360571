# expect: ["2024-02-29T00:30:00+00:00",359,"Thursday 29 February 2024","2021-03-04T05:06:00",3]
from datetime import datetime, timedelta, date, timezone
d = datetime(2024, 2, 28, 23, 30, tzinfo=timezone.utc) + timedelta(hours=1)
[d.isoformat(), (date(2024, 12, 25) - date(2024, 1, 1)).days, d.strftime("%A %d %B %Y"), datetime.strptime("2021-03-04 05:06", "%Y-%m-%d %H:%M").isoformat(), date(2024, 2, 29).weekday()]
