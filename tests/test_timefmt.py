"""The one date-time format and the one duration format (pms_site.timefmt), and where each zone applies."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from alarms.models import AlarmKind, format_measure
from pms_site.timefmt import format_datetime, format_duration, utc_offset

T = datetime(2026, 11, 25, 7, 5, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=6, minutes=21, seconds=50), "6 h 21 min"),
        (timedelta(minutes=380.881), "6 h 20 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(days=2, hours=3, minutes=5), "2 d 3 h"),
        (timedelta(days=1), "1 d"),
        (timedelta(minutes=12, seconds=59), "12 min"),
        (timedelta(seconds=40), "40 s"),
        (timedelta(seconds=-3), "0 s"),
    ],
)
def test_one_duration_format(value, text):
    assert format_duration(value) == text


def test_one_date_time_format_in_the_active_zone():
    with timezone.override(ZoneInfo("Asia/Bangkok")):
        assert format_datetime(T) == "2026-11-25 14:05"
        assert format_datetime(T, seconds=True) == "2026-11-25 14:05:09"
        assert format_datetime(T, offset=True) == "2026-11-25 14:05 +07"
    with timezone.override(ZoneInfo("Asia/Kolkata")):
        assert format_datetime(T, offset=True) == "2026-11-25 12:35 +05:30"
    assert utc_offset(T.astimezone(ZoneInfo("America/Sao_Paulo"))) == "-03"


def test_staleness_alarms_read_as_durations_others_with_their_unit():
    assert format_measure(AlarmKind.SITE_STALE, 380.881) == "6 h 20 min"
    assert format_measure(AlarmKind.CELL_OVER_VOLTAGE, 3.65123) == "3.651 V"


def test_the_default_zone_is_the_warehouses_not_utc(settings):
    assert settings.TIME_ZONE != "UTC"
    assert timezone.get_default_timezone_name() == settings.TIME_ZONE
