"""Reads for alarm evaluation and for the pages. Every function is one query, whatever the number of sites."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Greatest

from alarms.models import Alarm, AlarmKind, AlarmThreshold, Severity
from assets.models import Component, Installation, Kind, Site
from telemetry.models import DeviceState, PackState

RAISED_STATES = (Alarm.State.ACTIVE, Alarm.State.CLEARED)
HISTORY_LIMIT = 50


@dataclass(frozen=True)
class AlarmCounts:
    """Active alarms of one site (or case), by severity."""

    alarms: int = 0
    warnings: int = 0

    @property
    def total(self) -> int:
        return self.alarms + self.warnings

    @property
    def worst(self) -> str | None:
        """ "alarm", "warning" or None: the state a page colours the site or dock with."""
        if self.alarms:
            return Severity.ALARM
        return Severity.WARNING if self.warnings else None


# Pages


def site_alarm_counts(*, site_ids: Iterable[int] | None = None) -> dict[int, AlarmCounts]:
    """{site_id: AlarmCounts} of active alarms for every site that has any (or only ``site_ids``)."""
    active = Alarm.objects.filter(state=Alarm.State.ACTIVE)
    if site_ids is not None:
        active = active.filter(site_id__in=site_ids)
    rows = active.values("site_id").annotate(**_severity_counts()).order_by()
    return {row["site_id"]: AlarmCounts(alarms=row["alarms"], warnings=row["warnings"]) for row in rows}


def case_alarm_counts(*, site: Site) -> dict[int, AlarmCounts]:
    """{case_id: AlarmCounts} of active pack alarms on ``site``, for the dock drawing and the pack table."""
    rows = (
        Alarm.objects.filter(state=Alarm.State.ACTIVE, site=site, case__isnull=False)
        .values("case_id")
        .annotate(**_severity_counts())
        .order_by()
    )
    return {row["case_id"]: AlarmCounts(alarms=row["alarms"], warnings=row["warnings"]) for row in rows}


def active_alarms_for_site(*, site: Site) -> QuerySet[Alarm]:
    """The site's active alarms, site-level and per pack: alarms before warnings, newest first."""
    active = Alarm.objects.filter(site=site, state=Alarm.State.ACTIVE)
    return _for_pages(active).order_by("severity", "-raised_at", "-id")  # "alarm" sorts before "warning"


def raised_alarms() -> QuerySet[Alarm]:
    """Every active and cleared alarm, newest first (for the alarm list and its filters)."""
    return _for_pages(Alarm.objects.filter(state__in=RAISED_STATES))


def alarms_for_site(*, site: Site, limit: int = HISTORY_LIMIT) -> QuerySet[Alarm]:
    """The site's most recently raised alarms, active and cleared."""
    return raised_alarms().filter(site=site)[:limit]


def alarms_for_case(*, case: Component, limit: int = HISTORY_LIMIT) -> QuerySet[Alarm]:
    """The case's most recently raised alarms on any site, active and cleared."""
    return raised_alarms().filter(case=case)[:limit]


def _severity_counts():
    return {
        "alarms": Count("id", filter=Q(severity=Severity.ALARM)),
        "warnings": Count("id", filter=Q(severity=Severity.WARNING)),
    }


def _for_pages(alarms):
    return alarms.select_related("site", "case", "acknowledged_by").order_by("-raised_at", "-id")


# Evaluation


def thresholds_for_sites(*, site_ids: Iterable[int]) -> dict[tuple[int, str], AlarmThreshold]:
    """{(site_id, kind): threshold in force}: a site's own row where it has one, else the global row."""
    rows = AlarmThreshold.objects.filter(Q(site__isnull=True) | Q(site_id__in=site_ids))
    defaults, overrides = {}, {}
    for threshold in rows:
        if threshold.site_id is None:
            defaults[threshold.kind] = threshold
        else:
            overrides[(threshold.site_id, threshold.kind)] = threshold
    return {
        (site_id, kind): overrides.get((site_id, kind), defaults.get(kind))
        for site_id in site_ids
        for kind in AlarmKind
        if (site_id, kind) in overrides or kind in defaults
    }


def open_alarms(*, site_ids: Iterable[int], kinds: Iterable[str]) -> dict[tuple[int, int | None, str], Alarm]:
    """{(site_id, case_id, kind): alarm} of pending and active alarms."""
    alarms = Alarm.objects.filter(site_id__in=site_ids, kind__in=kinds, state__in=Alarm.OPEN_STATES)
    return {(alarm.site_id, alarm.case_id, alarm.kind): alarm for alarm in alarms}


def pack_states(*, site_ids: Iterable[int]) -> QuerySet[PackState, dict[str, Any]]:
    """The latest reading of every pack reporting from ``site_ids``, as dicts."""
    return PackState.objects.filter(site_id__in=site_ids).values(
        "site_id",
        "case_id",
        "case__serial",
        "time",
        "cell_volts",
        "open_cells",
        "temps",
        "fet_open",
        "fet_temps",
    )


def site_last_reported() -> dict[int, tuple[str, datetime]]:
    """{site_id: (pms_id, time of its newest pack or device reading)} for every site that has reported."""
    newest_pack = PackState.objects.filter(site=OuterRef("pk")).order_by("-time").values("time")[:1]
    newest_device = DeviceState.objects.filter(site=OuterRef("pk")).order_by("-time").values("time")[:1]
    sites = (
        Site.objects.annotate(last=Greatest(Subquery(newest_pack), Subquery(newest_device)))
        .filter(last__isnull=False)
        .values_list("pk", "pms_id", "last")
    )
    return {site_id: (pms_id, last) for site_id, pms_id, last in sites}


def installed_packs_last_seen(*, site_ids: Iterable[int]) -> QuerySet[Installation, dict[str, Any]]:
    """Cases installed now on ``site_ids`` (through busbar and cabinet) and when each was last heard of.

    Dicts of site_id, case_id, serial, last_seen: the newer of its latest reading and its installation.
    """
    cabinets = _open_installations(Kind.CABINET).filter(position__site_id__in=site_ids)
    busbars = _open_installations(Kind.BUSBAR).filter(position__parent__in=cabinets.values("component"))
    cabinet_site = _open_installations(Kind.CABINET).filter(component=OuterRef("position__parent"))
    busbar_site = (
        _open_installations(Kind.BUSBAR)
        .filter(component=OuterRef("position__parent"))
        .values(site=Subquery(cabinet_site.values("position__site")[:1]))
    )
    return (
        _open_installations(Kind.CASE)
        .filter(position__parent__in=busbars.values("component"))
        .values(
            site_id=Subquery(busbar_site[:1]),
            case_id=F("component_id"),
            serial=F("component__serial"),
            last_seen=Greatest("installed_at", "component__telemetry_state__time"),
        )
    )


def _open_installations(kind):
    return Installation.objects.filter(position_kind=kind, removed_at__isnull=True)
