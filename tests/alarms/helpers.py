"""Helpers for the alarm tests: a fixed clock and latest-state rows written as ingest leaves them."""

from datetime import UTC, datetime, timedelta

from alarms.models import Alarm, AlarmKind, AlarmThreshold, Severity
from assets.constants import CELL_BLOCKS_PER_CASE
from telemetry.models import PackState

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def pack_cells(volts):
    """Every cell of a pack at ``volts``."""
    return [volts] * CELL_BLOCKS_PER_CASE


HEALTHY_CELLS = pack_cells(3.9)


def seconds(n):
    return T0 + timedelta(seconds=n)


def report(
    case,
    site,
    at,
    *,
    cells=None,
    open_cells=(),
    temps=(30.0, 31.0, 32.0),
    fet_open=(),
    fet_temps=(40.0, 41.0),
):
    """Write ``case``'s latest state as the ingest pipeline leaves it after a batch."""
    PackState.objects.update_or_create(
        case=case,
        defaults={
            "site": site,
            "time": at,
            "utc_offset_minutes": 420,
            "updated_at": at,
            "dock": 1,
            "volts": 54.6,
            "amps": -1.5,
            "temps": list(temps),
            "cell_volts": list(cells or HEALTHY_CELLS),
            "open_cells": list(open_cells),
            "fet_open": list(fet_open),
            "fet_temps": list(fet_temps),
        },
    )


def set_threshold(kind, site=None, **fields):
    """Change the threshold of ``kind`` (the global one, or create/update ``site``'s override)."""
    defaults = AlarmThreshold.objects.get(kind=kind, site=None)
    values = {
        name: getattr(defaults, name)
        for name in ["severity", "raise_value", "clear_value", "raise_after_seconds", "clear_after_seconds"]
    }
    AlarmThreshold.objects.update_or_create(kind=kind, site=site, defaults=values | fields)


def raised_alarm(
    site, case=None, *, kind=AlarmKind.CELL_OVER_VOLTAGE, severity=Severity.ALARM, cleared=False
):
    """An alarm as the evaluation leaves it once raised (and cleared, if ``cleared``)."""
    return Alarm.objects.create(
        site=site,
        case=case,
        kind=kind,
        severity=severity,
        state=Alarm.State.CLEARED if cleared else Alarm.State.ACTIVE,
        condition_since=T0,
        raised_at=seconds(30),
        cleared_at=seconds(90) if cleared else None,
        value_at_raise=4.25,
        peak_value=4.3,
        last_value=4.1,
        last_seen_at=seconds(90),
        message=f"{case or site}: {AlarmKind(kind).label}",
    )
