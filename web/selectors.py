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
from django.urls import reverse
from django.utils import timezone

from alarms.selectors import AlarmCounts, case_alarm_counts, site_alarm_counts
from assets.constants import CELL_BLOCKS_PER_CASE, dock_name, pms_dock_number
from assets.models import Component, ComponentEvent, Installation, Kind, Position, Site, Status
from assets.selectors import (
    assets_search,
    current_locations,
    installed_case_counts,
    location_of_position,
    sites_installed_at,
)
from stock import selectors as stock_selectors
from telemetry.models import PackState, Reattribution
from telemetry.selectors import (
    device_figures_by_site,
    last_seen_by_site,
    open_discrepancies,
    pack_figures_by_site,
    pack_states,
    reattributions_of_case,
    reporting_by_dock,
)


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
    stale: bool = False  # the recorded case's latest reading is older than the staleness limit
    reporting: PackState | None = None  # the latest state of the case telemetry last saw in this dock
    observed: object = None  # the open Discrepancy of another case seen in this dock, if any

    @property
    def reporting_other(self):
        """The case telemetry last saw in this dock, when it is not the recorded one."""
        if self.reporting is None or (self.case is not None and self.reporting.case_id == self.case.pk):
            return None
        return self.reporting.case

    @property
    def observed_case(self):
        """The case telemetry sees in this dock while the dock is recorded empty (its open discrepancy's)."""
        if self.case is not None or self.observed is None:
            return None
        return self.observed.case

    @property
    def number(self):
        return self.position.number

    @property
    def pms_dock(self):
        return pms_dock_number(self.cabinet_number, self.position.number)

    @property
    def name(self):
        return dock_name(self.cabinet_number, self.position.number)

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
    at: datetime  # when it happened
    title: str
    detail: str = ""
    user: object = None
    recorded_at: datetime | None = None  # when it was entered, where that is known
    window: tuple[datetime, datetime] | None = None  # the readings a re-attribution re-checks: [start, end)

    @property
    def recorded_late(self):
        """Entered well after it happened: the timeline then shows both times."""
        return self.recorded_at is not None and self.recorded_at - self.at > RECORDED_LATE_AFTER


# An entry recorded more than this after its time is shown with both.
RECORDED_LATE_AFTER = timedelta(minutes=10)


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
        recorded_at=event.recorded_at,
    )


def _installation_recorded(installations):
    """{(component id, position id, event type, time): when it was entered} for the installs and removals of
    ``installations``, in one query.

    The services write an installed or removed event of the component in the same call as each installation
    row and its closing, at the same time and place: its ``recorded_at`` is the time of entry of the row."""
    if not installations:
        return {}
    events = ComponentEvent.objects.filter(
        component_id__in={installation.component_id for installation in installations},
        position_id__in={installation.position_id for installation in installations},
        type__in=[ComponentEvent.Type.INSTALLED, ComponentEvent.Type.REMOVED],
    ).values_list("component_id", "position_id", "type", "occurred_at", "recorded_at")
    return {(component, position, kind, at): recorded for component, position, kind, at, recorded in events}


def _installation_entries(installation, place, recorded):
    """The install of ``installation`` and its removal, if closed; ``recorded``: _installation_recorded."""
    what = f"{Kind(installation.component.kind).label} {installation.component.serial}"
    key = (installation.component_id, installation.position_id)
    yield TimelineEntry(
        at=installation.installed_at,
        title=f"{what} installed in {place}",
        detail=installation.reason,
        user=installation.installed_by,
        recorded_at=recorded.get((*key, ComponentEvent.Type.INSTALLED, installation.installed_at)),
    )
    if installation.removed_at:
        yield TimelineEntry(
            at=installation.removed_at,
            title=f"{what} removed from {place}",
            detail=installation.removal_reason,
            user=installation.removed_by,
            recorded_at=recorded.get((*key, ComponentEvent.Type.REMOVED, installation.removed_at)),
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


def _reattribution_entry(reattribution, serials):
    """A re-attribution of a case's readings after a late change, as a timeline entry: the page shows its
    window, the readings stored from the time of the change until it was recorded, in the page's zone."""
    window = (reattribution.changed_at, reattribution.window_end)
    if reattribution.status == Reattribution.Status.RUNNING:
        return TimelineEntry(
            at=reattribution.created_at,
            title=f"Re-attributing readings after a late record ({reattribution.installation})",
            detail="Running",
            user=reattribution.user,
            window=window,
        )
    moves = [
        f"{count:,} moved from case {serials[int(source)]} to case {serials[int(target)]}"
        if target
        else f"{count:,} of case {serials[int(source)]} quarantined"
        for key, count in sorted(reattribution.moves.items())
        for source, target in [key.split(">")]
    ]
    discrepancies = (
        f"discrepancies: {reattribution.discrepancies_resolved} resolved, "
        f"{reattribution.discrepancies_opened} opened"
    )
    return TimelineEntry(
        at=reattribution.finished_at,
        title=f"Readings re-attributed after a late record ({reattribution.installation})",
        detail=" · ".join([*moves, discrepancies]),
        user=reattribution.user,
        window=window,
    )


def _reattribution_entries(case):
    reattributions = list(reattributions_of_case(case_id=case.pk))
    case_ids = {
        int(case_id) for r in reattributions for key in r.moves for case_id in key.split(">") if case_id
    }
    serials = dict(Component.objects.filter(pk__in=case_ids).values_list("pk", "serial"))
    return [_reattribution_entry(reattribution, serials) for reattribution in reattributions]


def component_timeline(component):
    """Everything that happened to ``component``, newest first.

    Merges its events (received, installed, removed, status changes), the installation records of the parts
    fitted inside it (each with when it was entered), the field-level edits from its history and, for a case,
    the re-attributions of its readings after late records.
    """
    events = ComponentEvent.objects.filter(component=component).select_related("position", "user")
    part_installations = list(
        Installation.objects.filter(position__parent=component).select_related(
            "component", "position", "installed_by", "removed_by"
        )
    )
    recorded = _installation_recorded(part_installations)
    entries = [_event_entry(event) for event in events]
    entries += [
        entry
        for installation in part_installations
        for entry in _installation_entries(installation, installation.position.label, recorded)
    ]
    entries += list(_history_entries(component))
    if component.kind == Kind.CASE:
        entries += _reattribution_entries(component)
    entries += [_move_entry(move) for move in stock_selectors.moves_of(component=component)]
    entries += [
        TimelineEntry(
            at=new.created_at,
            title=f"Replaced by {new.serial}" if old == component else f"Replaces {old.serial}",
            detail="RMA replacement from the supplier",
        )
        for old, new in stock_selectors.replacements_of(component=component)
    ]
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


def _move_entry(move):
    source = f"from {move.from_location} " if move.from_location else ""
    return TimelineEntry(
        at=move.moved_at, title=f"Moved {source}to {move.to_location}", detail=move.note, user=move.moved_by
    )


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
    last_seen: datetime | None
    alarms: AlarmCounts
    status: str
    packs: int
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


FLEET_FIGURES = ("packs", "cell_min", "cell_max", "delta_max", "temp_max", "pv_power")


def fleet_summaries(sites, now=None, *, figures=True):
    """One SiteSummary per site, in a fixed number of queries whatever the number of sites.

    Without ``figures``, each has its status, last data and alarms only (two cheap queries, whatever the
    number of sites): what the page sorts by status, name or time needs of every site. ``add_fleet_figures``
    then computes the packs, cells and PV of the page's sites alone."""
    sites = list(sites)
    now = now or timezone.now()
    fresh_since = stale_before(now)
    site_ids = [site.pk for site in sites]
    if figures:
        figures_of = _fleet_figures(site_ids, now)
        last_seen_of = {site_id: figures["last_seen"] for site_id, figures in figures_of.items()}
    else:
        last_seen_of = last_seen_by_site(site_ids=site_ids)
    # Every site's active alarms (few, whatever the fleet) costs less than naming 1,000 sites in the query.
    alarm_counts = site_alarm_counts()
    summaries = []
    for site in sites:
        last_seen = last_seen_of.get(site.pk)
        counts = alarm_counts.get(site.pk, AlarmCounts())
        summary = SiteSummary(
            site=site,
            packs=0,
            last_seen=last_seen,
            alarms=counts,
            status=_site_status(last_seen, counts, fresh_since),
        )
        if figures:
            _set_figures(summary, figures_of[site.pk])
        summaries.append(summary)
    return summaries


def add_fleet_figures(summaries, now=None):
    """Fill in the cases installed, the cell and temperature figures and the PV power now of ``summaries``'
    sites, in three queries whatever their number."""
    figures_of = _fleet_figures([summary.site.pk for summary in summaries], now or timezone.now())
    for summary in summaries:
        _set_figures(summary, figures_of[summary.site.pk])


def _set_figures(summary, figures):
    for name in FLEET_FIGURES:
        setattr(summary, name, figures[name])


def _fleet_figures(site_ids, now):
    """{site id: {packs, cell_min, cell_max, delta_max, temp_max, pv_power, last_seen}} for every one of
    ``site_ids``, in three queries."""
    if not site_ids:
        return {}
    case_counts = installed_case_counts(site_ids=site_ids)
    packs = pack_figures_by_site(site_ids=site_ids)
    devices = device_figures_by_site(site_ids=site_ids, fresh_since=stale_before(now))
    figures_of = {}
    for site_id in site_ids:
        pack_figures, device_figures = packs.get(site_id, {}), devices.get(site_id, {})
        times = [t for t in (pack_figures.get("last_seen"), device_figures.get("last_seen")) if t]
        figures_of[site_id] = {
            "packs": case_counts.get(site_id, 0),
            "cell_min": pack_figures.get("cell_min"),
            "cell_max": pack_figures.get("cell_max"),
            "delta_max": pack_figures.get("delta_max"),
            "temp_max": pack_figures.get("temp_max"),
            "pv_power": device_figures.get("pv_power"),
            "last_seen": max(times) if times else None,
        }
    return figures_of


# --- Site page ---------------------------------------------------------------------------------------------


def site_layout_observed(site):
    """The site's layout as recorded, each dock with the case telemetry last saw in it (``reporting``) and the
    open discrepancy of another case seen there (``observed``)."""
    layout = site_layout(site)
    reporting = reporting_by_dock(site=site)
    observed = {}
    for discrepancy in open_discrepancies(site=site).filter(observed_site=site).order_by("last_seen"):
        observed[discrepancy.observed_dock] = discrepancy  # the latest seen wins
    for cabinet in layout:
        for dock in cabinet.docks:
            dock.reporting = reporting.get(dock.pms_dock)
            dock.observed = observed.get(dock.pms_dock)
    return layout


def site_packs(site, now=None):
    """The site's layout with each dock's latest reading and state (ok, warning, alarm, empty, stale).

    A dock recorded empty where telemetry sees a case keeps its state, empty, and has the reading of the
    observed case (``observed_case``) from that dock, if it has one."""
    layout = site_layout_observed(site)
    docks = installed_cases(layout)
    readings = pack_states(case_ids=docks)
    alarm_counts = case_alarm_counts(site=site)
    fresh_since = stale_before(now)
    for cabinet in layout:
        for dock in cabinet.docks:
            if dock.case is None:
                reporting, observed = dock.reporting, dock.observed_case
                if observed is not None and reporting is not None and reporting.case_id == observed.pk:
                    dock.reading = reporting
                    dock.stale = dock.reading.time < fresh_since
                continue
            dock.reading = readings.get(dock.case.pk)
            dock.stale = dock.reading is None or dock.reading.time < fresh_since
            worst = alarm_counts.get(dock.case.pk, AlarmCounts()).worst
            if worst:
                dock.state = worst
            elif dock.stale:
                dock.state = DockState.STALE
            else:
                dock.state = DockState.OK
    return layout


def newest_reading_time(layout, device_states):
    """The time of the newest reading of the site's packs (``site_packs``) and devices, or None."""
    times = [dock.reading.time for cabinet in layout for dock in cabinet.docks if dock.reading is not None]
    return max([*times, *(state.time for state in device_states)], default=None)


def cell_heatmap(layout):
    """Packs x cells, each cell's deviation (mV) from the median of every closed cell of the site's fresh
    packs. A stale pack is marked in its label and has no deviation: it is left out of the colour scale. Each
    label names the case reporting from the dock when it is not the recorded one; a dock recorded empty has a
    row for the case telemetry sees in it, labelled as observed."""
    docks = [dock for cabinet in layout for dock in cabinet.docks if dock.reading is not None]
    closed = [volts for dock in docks if not dock.stale for volts in dock.reading.closed_cell_volts]
    median = statistics.median(closed) if closed else None
    cells = []
    for row, dock in enumerate(docks):
        for number, volts in enumerate(dock.reading.cell_volts, start=1):
            is_open = number in dock.reading.open_cells
            no_deviation = is_open or dock.stale or median is None
            deviation = None if no_deviation else round((volts - median) * 1000, 1)
            cells.append([number - 1, row, deviation, round(volts, 3), is_open])
    return {
        "packs": [_heatmap_label(dock) for dock in docks],
        "fet_open": [list(dock.reading.fet_open) for dock in docks],
        "median": median,
        "cells": cells,
        "cells_per_pack": CELL_BLOCKS_PER_CASE,
    }


def _heatmap_label(dock):
    if dock.case is None:
        label = f"{dock.observed_case.serial} · {dock.name} (observed; recorded empty)"
    elif dock.reporting_other is not None:
        label = f"{dock.case.serial} · {dock.name} (reporting: {dock.reporting_other.serial})"
    else:
        label = f"{dock.case.serial} · {dock.name}"
    return f"{label} · stale" if dock.stale else label


def recent_site_changes(layout, limit=10):
    """The newest installs and removals in the site's docks, newest first."""
    places = {dock.position.pk: dock.name for cabinet in layout for dock in cabinet.docks}
    installations = list(
        Installation.objects.filter(position_id__in=places)
        .select_related("component", "installed_by", "removed_by")
        .order_by("-installed_at")[:limit]
    )
    recorded = _installation_recorded(installations)
    entries = [
        entry
        for installation in installations
        for entry in _installation_entries(installation, places[installation.position_id], recorded)
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


# --- Search ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    label: str
    detail: str
    url: str | None
    exact: bool


@dataclass
class SearchResults:
    text: str
    groups: list[tuple[str, list[SearchHit]]]

    @property
    def jump_to(self):
        """The page of the exact match, when every exact match leads to one page (a Case id is also its
        acquisition board's configured id: both lead to the case)."""
        urls = {hit.url for _, hits in self.groups for hit in hits if hit.exact}
        return urls.pop() if len(urls) == 1 and None not in urls else None

    @property
    def count(self):
        return sum(len(hits) for _, hits in self.groups)


def _holding_case_id(location):
    """The case that ``location`` is inside (a board, cell block or FET), else None."""
    return next((position.parent_id for position in location.path if position.parent_kind == Kind.CASE), None)


def _component_hit(component, *, location, cases, exact, user):
    if component.kind == Kind.CASE:
        where = str(location) if location and location.site else component.get_status_display()
        return SearchHit(
            f"Case {component.serial}", where, reverse("web:case", args=[component.serial]), exact
        )
    name = f"{component.get_kind_display()} {component.serial}"
    if component.configured_id and component.configured_id != component.serial:
        name += f" ({component.configured_id})"
    case = cases.get(_holding_case_id(location)) if location else None
    if case is not None:
        detail = f"in case {case.serial}" + (f", {location}" if location.site else "")
        return SearchHit(name, detail, reverse("web:case", args=[case.serial]), exact)
    if location and location.site:
        return SearchHit(name, str(location), reverse("web:site", args=[location.site.pk]), exact)
    # On no site: its admin page is the only page it has, for staff users.
    url = reverse("admin:assets_component_change", args=[component.pk]) if user.is_staff else None
    return SearchHit(name, component.get_status_display(), url, exact)


def search(text, user):
    """What the header's search box finds for ``text``, grouped by kind: sites, then each kind of component.

    Each hit links to the page that shows it: a site or case its own page, a part of a case (a board, a
    cell block, a FET) the case that holds it, a device on a site the site.
    """
    matches = assets_search(text=text)
    locations = current_locations(components=matches.components)
    case_ids = {_holding_case_id(location) for location in locations.values()} - {None}
    cases = Component.objects.in_bulk(case_ids)
    groups = []
    if matches.sites:
        hits = [
            SearchHit(
                site.name, site.pms_id, reverse("web:site", args=[site.pk]), site.pk in matches.exact_sites
            )
            for site in matches.sites
        ]
        groups.append(("Sites", hits))
    kinds = list(Kind)
    components = sorted(
        matches.components, key=lambda c: (kinds.index(c.kind), c.pk not in matches.exact_components)
    )
    for kind, of_kind in itertools.groupby(components, key=lambda component: component.kind):
        hits = [
            _component_hit(
                c,
                location=locations.get(c.pk),
                cases=cases,
                exact=c.pk in matches.exact_components,
                user=user,
            )
            for c in of_kind
        ]
        groups.append((Kind(kind).label, hits))
    return SearchResults(text=text, groups=groups)
