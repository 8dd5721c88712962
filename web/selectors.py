"""The pages' reads: each combines the asset, telemetry and alarm reads a page shows.

The layout reads run a fixed number of queries whatever the number of sites, cabinets or docks, so the fleet
and site pages stay flat as the fleet grows.
"""

import itertools
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from alarms.selectors import AlarmCounts, case_alarm_counts, site_alarm_counts
from assets.constants import CELL_BLOCKS_PER_CASE, pms_dock_number
from assets.models import Component, ComponentEvent, Installation, Kind, Position, Site, Status
from assets.selectors import location_of_position, sites_installed_at
from telemetry.models import PackState
from telemetry.selectors import device_figures_by_site, pack_figures_by_site, pack_states


class DockState:
    OK, WARNING, ALARM, EMPTY, STALE, FILLED = "ok", "warning", "alarm", "empty", "stale", "filled"
    LABELS = {OK: "OK", WARNING: "Warning", ALARM: "Alarm", EMPTY: "Empty", STALE: "Stale", FILLED: ""}


@dataclass
class DockView:
    position: Position
    cabinet_number: int
    case: Component | None = None
    reading: PackState | None = None
    state: str = DockState.EMPTY

    @property
    def number(self):
        return self.position.number

    @property
    def pms_dock(self):
        return pms_dock_number(self.cabinet_number, self.position.number)

    @property
    def state_label(self):
        return DockState.LABELS[self.state]

    @property
    def _closed_cells(self):
        return self.reading.closed_cell_volts if self.reading else []

    @property
    def cell_min(self):
        """The lowest cell voltage of the latest reading, cells flagged open left out; None without one."""
        return min(self._closed_cells, default=None)

    @property
    def cell_max(self):
        return max(self._closed_cells, default=None)

    @property
    def cell_delta(self):
        return None if self.cell_min is None else self.cell_max - self.cell_min


@dataclass
class CabinetView:
    number: int
    cabinet: Component
    busbar: Component | None = None
    docks: list[DockView] = field(default_factory=list)


def _with_occupant(positions):
    """Positions with ``occupant``: the component installed there now, or None. One extra query."""
    positions = list(
        positions.prefetch_related(
            Prefetch(
                "installations",
                queryset=Installation.objects.filter(removed_at__isnull=True).select_related("component"),
                to_attr="open_installations",
            )
        )
    )
    for position in positions:
        position.occupant = position.open_installations[0].component if position.open_installations else None
    return positions


def site_layouts(site_ids):
    """{site id: [CabinetView, ...]}: what is installed now, in two queries for any number of sites."""
    return {
        site_id: [
            CabinetView(
                number=cabinet.number,
                cabinet=cabinet.cabinet,
                busbar=cabinet.busbar,
                docks=[
                    DockView(
                        position=dock.position,
                        cabinet_number=dock.cabinet_number,
                        case=dock.case,
                        state=DockState.FILLED if dock.case else DockState.EMPTY,
                    )
                    for dock in cabinet.docks
                ],
            )
            for cabinet in installed.cabinets
        ]
        for site_id, installed in sites_installed_at(site_ids=site_ids, at=None).items()
    }


def site_layout(site):
    return site_layouts([site.pk])[site.pk]


def installed_cases(layout):
    """{case id: DockView} of the cases installed in a site layout."""
    return {dock.case.pk: dock for cabinet in layout for dock in cabinet.docks if dock.case is not None}


@dataclass
class PartView:
    position: Position
    component: Component | None
    parts: list["PartView"] = field(default_factory=list)


def component_parts(component):
    """The positions inside ``component`` and what fills them now, one level further for FET boards."""
    parts = [
        PartView(position=position, component=position.occupant)
        for position in _with_occupant(Position.objects.filter(parent=component).order_by("kind", "number"))
    ]
    order = {Kind.ACQ_BOARD: 0, Kind.FET_BOARD: 1, Kind.CELL_BLOCK: 2}
    parts.sort(key=lambda part: (order.get(part.position.kind, 3), part.position.number))
    for part in parts:
        if part.component is not None and part.component.kind == Kind.FET_BOARD:
            part.parts = component_parts(part.component)
    return parts


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    title: str
    detail: str = ""
    user: object = None


def _event_entry(event):
    place = location_of_position(position=event.position, at=event.occurred_at) if event.position else None
    titles = {
        ComponentEvent.Type.RECEIVED: "Received",
        ComponentEvent.Type.INSTALLED: f"Installed at {place}",
        ComponentEvent.Type.REMOVED: f"Removed from {place}",
        ComponentEvent.Type.STATUS_CHANGED: "Status changed",
    }
    detail = [event.reason, event.note]
    if event.from_status != event.to_status:
        detail.insert(
            0,
            f"{Status(event.from_status).label if event.from_status else 'new'} → "
            f"{Status(event.to_status).label}",
        )
    return TimelineEntry(
        at=event.occurred_at,
        title=titles[event.type],
        detail=" · ".join(part for part in detail if part),
        user=event.user,
    )


def _installation_entries(installation, place):
    what = f"{Kind(installation.component.kind).label} {installation.component.serial}"
    yield TimelineEntry(
        at=installation.installed_at,
        title=f"{what} installed in {place}",
        detail=installation.reason,
        user=installation.installed_by,
    )
    if installation.removed_at:
        yield TimelineEntry(
            at=installation.removed_at,
            title=f"{what} removed from {place}",
            detail=installation.removal_reason,
            user=installation.removed_by,
        )


# Fields whose changes the timeline already shows through events, or that change on every save.
_QUIET_FIELDS = {"status", "updated_at", "created_at"}


def _history_entries(component):
    records = list(component.history.select_related("history_user").order_by("history_date"))
    for previous, record in itertools.pairwise(records):
        changes = [c for c in record.diff_against(previous).changes if c.field not in _QUIET_FIELDS]
        if changes:
            yield TimelineEntry(
                at=record.history_date,
                title="Details edited",
                detail="; ".join(f"{c.field}: {c.old or '—'} → {c.new or '—'}" for c in changes),
                user=record.history_user,
            )


def component_timeline(component):
    """Everything that happened to ``component``, newest first.

    Merges its events (received, installed, removed, status changes), the installation records of the parts
    fitted inside it, and the field-level edits from its history.
    """
    events = ComponentEvent.objects.filter(component=component).select_related("position", "user")
    part_installations = Installation.objects.filter(position__parent=component).select_related(
        "component", "position", "installed_by", "removed_by"
    )
    entries = [_event_entry(event) for event in events]
    entries += [
        entry
        for installation in part_installations
        for entry in _installation_entries(installation, installation.position.label)
    ]
    entries += list(_history_entries(component))
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


def installation_replaced(installation):
    """The installation that ``installation`` replaced in a swap (closed at the same instant), or None."""
    return (
        Installation.objects.filter(position=installation.position_id, removed_at=installation.installed_at)
        .select_related("component")
        .first()
    )


# --- Fleet page --------------------------------------------------------------------------------------------


def stale_before(now=None):
    """Data older than this is stale (setting PMS_STALE_AFTER_MINUTES)."""
    return (now or timezone.now()) - timedelta(minutes=settings.PMS_STALE_AFTER_MINUTES)


class SiteStatus:
    ALARM, STALE, ONLINE = "alarm", "stale", "online"
    LABELS = {ALARM: "In alarm", STALE: "Stale", ONLINE: "Online"}
    ORDER = {ALARM: 0, STALE: 1, ONLINE: 2}


@dataclass
class SiteSummary:
    site: Site
    packs: int
    last_seen: datetime | None
    alarms: AlarmCounts
    status: str
    cell_min: float | None = None
    cell_max: float | None = None
    delta_max: float | None = None
    temp_max: float | None = None
    pv_power: float | None = None

    @property
    def status_label(self):
        return SiteStatus.LABELS[self.status]


def _site_status(last_seen, alarm_counts, fresh_since):
    if alarm_counts.alarms:
        return SiteStatus.ALARM
    if last_seen is None or last_seen < fresh_since:
        return SiteStatus.STALE
    return SiteStatus.ONLINE


def fleet_summaries(sites, now=None):
    """One SiteSummary per site, in a fixed number of queries whatever the number of sites."""
    sites = list(sites)
    site_ids = [site.pk for site in sites]
    fresh_since = stale_before(now)
    layouts = site_layouts(site_ids)
    packs = pack_figures_by_site(site_ids=site_ids)
    devices = device_figures_by_site(site_ids=site_ids, fresh_since=fresh_since)
    alarm_counts = site_alarm_counts(site_ids=site_ids)
    summaries = []
    for site in sites:
        pack_figures = packs.get(site.pk, {})
        device_figures = devices.get(site.pk, {})
        times = [t for t in (pack_figures.get("last_seen"), device_figures.get("last_seen")) if t]
        last_seen = max(times) if times else None
        counts = alarm_counts.get(site.pk, AlarmCounts())
        summaries.append(
            SiteSummary(
                site=site,
                packs=len(installed_cases(layouts[site.pk])),
                last_seen=last_seen,
                alarms=counts,
                status=_site_status(last_seen, counts, fresh_since),
                cell_min=pack_figures.get("cell_min"),
                cell_max=pack_figures.get("cell_max"),
                delta_max=pack_figures.get("delta_max"),
                temp_max=pack_figures.get("temp_max"),
                pv_power=device_figures.get("pv_power"),
            )
        )
    return summaries


# --- Site page ---------------------------------------------------------------------------------------------


def site_packs(site, now=None):
    """The site's layout with each dock's latest reading and state (ok, warning, alarm, empty, stale)."""
    layout = site_layout(site)
    docks = installed_cases(layout)
    readings = pack_states(case_ids=docks)
    alarm_counts = case_alarm_counts(site=site)
    fresh_since = stale_before(now)
    for cabinet in layout:
        for dock in cabinet.docks:
            if dock.case is None:
                continue
            dock.reading = readings.get(dock.case.pk)
            worst = alarm_counts.get(dock.case.pk, AlarmCounts()).worst
            if worst:
                dock.state = worst
            elif dock.reading is None or dock.reading.time < fresh_since:
                dock.state = DockState.STALE
            else:
                dock.state = DockState.OK
    return layout


def cell_heatmap(layout):
    """Packs x cells, each cell's deviation (mV) from the median of every closed cell on the site."""
    docks = [dock for cabinet in layout for dock in cabinet.docks if dock.reading is not None]
    closed = [volts for dock in docks for volts in dock.reading.closed_cell_volts]
    median = statistics.median(closed) if closed else None
    cells = []
    for row, dock in enumerate(docks):
        for number, volts in enumerate(dock.reading.cell_volts, start=1):
            is_open = number in dock.reading.open_cells
            deviation = None if is_open or median is None else round((volts - median) * 1000, 1)
            cells.append([number - 1, row, deviation, round(volts, 3), is_open])
    return {
        "packs": [f"{dock.case.serial} · dock {dock.pms_dock}" for dock in docks],
        "fet_open": [list(dock.reading.fet_open) for dock in docks],
        "median": median,
        "cells": cells,
        "cells_per_pack": CELL_BLOCKS_PER_CASE,
    }


def recent_site_changes(layout, limit=10):
    """The newest installs and removals in the site's docks, newest first."""
    places = {
        dock.position.pk: f"cabinet {cabinet.number} dock {dock.number}"
        for cabinet in layout
        for dock in cabinet.docks
    }
    installations = (
        Installation.objects.filter(position_id__in=places)
        .select_related("component", "installed_by", "removed_by")
        .order_by("-installed_at")[:limit]
    )
    entries = [
        entry
        for installation in installations
        for entry in _installation_entries(installation, places[installation.position_id])
    ]
    return sorted(entries, key=lambda entry: entry.at, reverse=True)[:limit]


def discrepancy_docks(discrepancies):
    """{(site id, PMS-wide dock): DockView} for the observed and recorded docks of ``discrepancies``."""
    site_ids = {d.observed_site_id for d in discrepancies} | {
        d.recorded_site_id for d in discrepancies if d.recorded_site_id
    }
    return {
        (site_id, dock.pms_dock): dock
        for site_id, layout in site_layouts(list(site_ids)).items()
        for cabinet in layout
        for dock in cabinet.docks
    }
