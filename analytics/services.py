"""Writes of the analytics: hour rows and health summaries, re-computed after each refresh of the rollups."""

import statistics
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from alarms.models import Alarm
from analytics import indicators
from analytics.daily import case_days
from analytics.hours import refresh_hours
from analytics.models import CaseHealth, CaseHour
from assets.models import Component, PartModel

HEALTH_WINDOW_DAYS = 28
# A case's health is judged over days: re-computing it at every 10-minute refresh of its hours would cost
# more than the hours themselves, for no change a manager could see.
HEALTH_REFRESH_EVERY = timedelta(hours=1)


def analytics_refresh(*, start: datetime, end: datetime, now: datetime | None = None) -> set[int]:
    """Re-compute the hours overlapping [start, end), then the health of the cases they concern whose health
    is older than HEALTH_REFRESH_EVERY (or missing). Returns the ids of the cases whose hours were written."""
    now = now or timezone.now()
    case_ids = refresh_hours(start=start, end=end)
    fresh = CaseHealth.objects.filter(case_id__in=case_ids, computed_at__gt=now - HEALTH_REFRESH_EVERY)
    stale = case_ids - set(fresh.values_list("case_id", flat=True))
    if stale:
        case_health_refresh(case_ids=stale, now=now)
    return case_ids


def _alarm_hours(case_ids, *, since, now):
    """{case id: hours its raised alarms overlapped [since, now)}."""
    overlaps = (
        Alarm.objects.filter(case_id__in=case_ids, raised_at__isnull=False, raised_at__lt=now)
        .filter(Q(cleared_at__isnull=True) | Q(cleared_at__gt=since))
        .annotate(start=Greatest(F("raised_at"), since), end=Least(Coalesce(F("cleared_at"), now), now))
        .values_list("case_id", "start", "end")
    )
    hours = dict.fromkeys(case_ids, 0.0)
    for case_id, start, end in overlaps:
        hours[case_id] += (end - start).total_seconds() / 3600
    return hours


def _throughputs(case_ids):
    totals = dict.fromkeys(case_ids, 0.0)
    sums = (
        CaseHour.objects.filter(case_id__in=case_ids)
        .values("case_id")
        .annotate(total=Sum(F("charged_ah") + F("discharged_ah")))
        .values_list("case_id", "total")
    )
    totals.update(sums)
    return totals


def case_health_refresh(*, case_ids: set[int], now: datetime | None = None) -> None:
    """Re-compute the health summary of these cases from their hour rows (the last HEALTH_WINDOW_DAYS days
    with data, Ah throughput over life) and their alarms of the last RECENT_DAYS days."""
    now = now or timezone.now()
    days = case_days(case_ids=case_ids, window=HEALTH_WINDOW_DAYS)
    cases = Component.objects.in_bulk(case_ids)
    nominal = dict(
        PartModel.objects.filter(model_number__in={c.model_number for c in cases.values()}).values_list(
            "model_number", "nominal_ah"
        )
    )
    throughputs = _throughputs(case_ids)
    alarm_days = indicators.RECENT_DAYS
    alarm_hours = _alarm_hours(case_ids, since=now - timedelta(days=alarm_days), now=now)
    sites = dict(
        CaseHour.objects.filter(case_id__in=case_ids)
        .order_by("case_id", "-hour")
        .distinct("case_id")
        .values_list("case_id", "site_id")
    )
    resistances = {case_id: indicators.recent_resistance(days.get(case_id, [])) for case_id in case_ids}
    others = CaseHealth.objects.exclude(case_id__in=case_ids).exclude(resistance_mohm=None)
    fleet = [*others.values_list("resistance_mohm", flat=True), *(r for r in resistances.values() if r)]
    fleet_median = statistics.median(fleet) if fleet else None
    with transaction.atomic():
        for case_id in sorted(case_ids):
            case = cases[case_id]
            case_series = days.get(case_id, [])
            capacity = nominal.get(case.model_number)
            found = [
                indicators.throughput(
                    throughput_ah=throughputs[case_id],
                    nominal_ah=float(capacity) if capacity else None,
                    model_number=case.model_number,
                ),
                indicators.imbalance(case_series),
                indicators.deviation(case_series),
                indicators.resistance(case_series, fleet_median=fleet_median),
                indicators.temperature(case_series, fets=False),
                indicators.temperature(case_series, fets=True),
                indicators.time_in_alarm(hours=alarm_hours[case_id], days=alarm_days),
            ]
            CaseHealth.objects.update_or_create(
                case_id=case_id,
                defaults={
                    "site_id": sites.get(case_id),
                    "computed_at": now,
                    "light": indicators.worst(*(item["light"] for item in found)),
                    "indicators": found,
                    "throughput_ah": throughputs[case_id],
                    "equivalent_cycles": found[0]["value"],
                    "resistance_mohm": resistances[case_id],
                },
            )
