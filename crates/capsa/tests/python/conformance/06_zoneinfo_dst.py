# expect: [-4.0,-5.0,"EDT","2024-01-02T02:00:00+09:00"]
from datetime import datetime
from zoneinfo import ZoneInfo
ny = ZoneInfo("America/New_York")
summer = datetime(2024, 7, 1, 12, tzinfo=ny)
winter = datetime(2024, 1, 1, 12, tzinfo=ny)
[summer.utcoffset().total_seconds() / 3600, winter.utcoffset().total_seconds() / 3600, summer.tzname(), winter.astimezone(ZoneInfo("Asia/Tokyo")).isoformat()]
