"""The one date-time format and the one duration format of every page, message, admin list and CSV.

Times are shown in the active time zone: a site's own zone on its pages (the views activate it), else the
default zone, ``settings.TIME_ZONE`` (the warehouse's). The zone is named once per page (``base.html``), not
beside each time. Like all of pms_site that apps import, this imports no app.
"""

from datetime import datetime, timedelta

from django.utils import timezone

DATETIME_FORMAT = "%Y-%m-%d %H:%M"


def format_datetime(value: datetime, *, seconds: bool = False, offset: bool = False) -> str:
    """ "2026-11-25 14:05" in the active time zone (":07" with ``seconds``; " +07" with ``offset``, for lists
    that mix sites of several zones)."""
    local = timezone.localtime(value)
    text = local.strftime(DATETIME_FORMAT + (":%S" if seconds else ""))
    if offset:
        text += f" {utc_offset(local)}"
    return text


def utc_offset(value: datetime) -> str:
    """ "+07", "-03:30", "+00": the offset of an aware time, as short as it goes."""
    minutes = int(value.utcoffset().total_seconds() // 60)
    sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
    return f"{sign}{minutes // 60:02d}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def format_duration(value: timedelta) -> str:
    """ "6 h 21 min", "2 d 3 h", "12 min", "40 s": the two largest units, rounded down."""
    seconds = max(int(value.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"
