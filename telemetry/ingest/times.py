"""Reading times: parsed once per distinct string, refused when PostgreSQL cannot store them or when they
cannot be a real reading's time (a gateway whose clock was reset)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from telemetry.ingest.errors import DecodeError, record_place, shown

# PostgreSQL takes UTC offsets up to 15:59 (and whole minutes are all the offset column holds).
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
ONE_MINUTE = timedelta(minutes=1)


class TimeParser:
    """``time_local`` -> (datetime, its COPY text: the time and the UTC offset in minutes, tab-separated),
    remembering each string: the packs of one sample share one time.

    Refuses an offset PostgreSQL does not take (beyond ±15:59, or not whole minutes) and an implausible time:
    older than the raw retention, or more than TELEMETRY_MAX_FUTURE ahead of ``now`` (by default, when the
    parser is made; one parser serves a whole group of batches). Such a time is most often a gateway whose
    clock was reset, so the message says so.
    """

    def __init__(self, *, now=None):
        self._now = now or timezone.now()
        self._retention = timedelta(days=settings.TELEMETRY_RAW_RETENTION_DAYS)
        self._oldest = self._now - self._retention
        self._newest = self._now + settings.TELEMETRY_MAX_FUTURE
        self.seen = {}  # text -> what __call__ returned: callers may look there first

    def __call__(self, text, dataset_index, record_index):
        parsed = self.seen.get(text)
        if parsed is None:
            parsed = self.seen[text] = self._parse(
                text, f"{record_place(dataset_index, record_index)}.time_local"
            )
        return parsed

    def _parse(self, text, place):
        try:
            moment = datetime.fromisoformat(text)
        except (ValueError, OverflowError):
            raise DecodeError(
                f"{place}: {shown(text)} is not an ISO 8601 time such as '20190209T150006.032+0700'"
            ) from None
        offset = moment.utcoffset()
        if offset is None:
            raise DecodeError(f"{place}: {shown(text)} has no UTC offset, e.g. '+0700'")
        if offset % ONE_MINUTE or abs(offset) > MAX_UTC_OFFSET:
            raise DecodeError(
                f"{place}: {shown(text)} has a UTC offset PostgreSQL cannot store; offsets run from "
                "-15:59 to +15:59 in whole minutes"
            )
        if moment < self._oldest:
            raise DecodeError(
                f"{place}: {moment.isoformat()} is {_how_long(self._now - moment)} before now; the gateway "
                f"clock may be wrong (readings older than {_how_long(self._retention)} are not stored)"
            )
        if moment > self._newest:
            raise DecodeError(
                f"{place}: {moment.isoformat()} is {_how_long(moment - self._now)} after now; the gateway "
                f"clock may be wrong (readings more than {_how_long(settings.TELEMETRY_MAX_FUTURE)} ahead "
                "are not stored)"
            )
        return moment, f"{moment.isoformat()}\t{offset // ONE_MINUTE}"


def _how_long(delta):
    """A length of time in its largest whole unit, rounded down: "56 years", "3 days", "10 minutes"."""
    for unit, length in (
        ("year", timedelta(days=365.2425)),
        ("day", timedelta(days=1)),
        ("hour", timedelta(hours=1)),
        ("minute", ONE_MINUTE),
    ):
        if delta >= length:
            count = delta // length
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return "less than a minute"
