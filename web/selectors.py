"""Reads for the web pages that the asset and telemetry selectors do not offer.

The layout reads run a fixed number of queries whatever the number of sites, cabinets or docks, so the fleet
and site pages stay flat as the fleet grows.
"""

import itertools
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Prefetch, Q
from django.utils import timezone

from alarms.selectors import AlarmCounts, case_alarm_counts, site_alarm_counts
from assets.models import (
    Component,
    ComponentEvent,
    Installation,
    Kind,
    Position,
    Site,
    Status,
    pms_dock_number,
)
from assets.selectors import location_of_position
from telemetry.models import (
    DeviceKind,
    DeviceRollup1h,
    DeviceRollup1m,
    DeviceState,
    Discrepancy,
    InverterReading,
    MpptReading,
    PackReading,
    PackRollup1h,
    PackRollup1m,
    PackState,
)
from telemetry.rollups import CELL_NUMBERS, cell_averages, closed_cells


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


def _open_installations(**lookups):
    return Installation.objects.filter(removed_at__isnull=True, **lookups).select_related(
        "component", "position"
    )


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
    """{site id: [CabinetView, ...]}: what is installed now, in four queries for any number of sites."""
    cabinets = _open_installations(position__site_id__in=site_ids, position__kind=Kind.CABINET)
    busbars = _open_installations(
        position__kind=Kind.BUSBAR,
        position__parent__installations__removed_at__isnull=True,
        position__parent__installations__position__site_id__in=site_ids,
    )
    layouts, cabinet_views = defaultdict(list), {}
    for installation in sorted(cabinets, key=lambda i: i.position.number):
        view = CabinetView(number=installation.position.number, cabinet=installation.component)
        layouts[installation.position.site_id].append(view)
        cabinet_views[installation.component_id] = view
    busbar_views = {}
    for installation in busbars:
        view = cabinet_views[installation.position.parent_id]
        view.busbar = installation.component
        busbar_views[installation.component_id] = view
    docks = Position.objects.filter(parent_id__in=busbar_views, kind=Kind.CASE).order_by("number")
    for dock in _with_occupant(docks):
        view = busbar_views[dock.parent_id]
        state = DockState.FILLED if dock.occupant else DockState.EMPTY
        view.docks.append(
            DockView(position=dock, cabinet_number=view.number, case=dock.occupant, state=state)
        )
    return {site_id: layouts.get(site_id, []) for site_id in site_ids}


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
    place = location_of_position(event.position, event.occurred_at) if event.position else None
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


def discrepancies_resolved_with(installation):
    """The discrepancies that recording ``installation`` resolved."""
    return installation.resolved_discrepancies.select_related("case", "observed_site", "resolved_by")


# --- Telemetry for the pages -------------------------------------------------------------------------------


def stale_before(now=None):
    """Data older than this is stale (setting PMS_STALE_AFTER_MINUTES)."""
    return (now or timezone.now()) - timedelta(minutes=settings.PMS_STALE_AFTER_MINUTES)


def _fetch(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _pack_figures_by_site(site_ids):
    """{site_id: min/max cell voltage, worst cell delta, max temperature, newest time} over latest states.
    Cells flagged open are left out."""
    low, high = closed_cells("LEAST"), closed_cells("GREATEST")
    rows = _fetch(
        f"""
        SELECT site_id, min({low}) AS cell_min, max({high}) AS cell_max, max({high} - {low}) AS delta_max,
               max(GREATEST(temps[1], temps[2], temps[3])) AS temp_max, max(time) AS last_seen
        FROM {PackState._meta.db_table}
        WHERE site_id = ANY(%(site_ids)s)
        GROUP BY site_id
        """,
        {"site_ids": list(site_ids)},
    )
    return {row.pop("site_id"): row for row in rows}


def _device_figures_by_site(site_ids, fresh_since):
    """{site_id: PV power now (W, MPPTs reporting since ``fresh_since``), newest device time}."""
    rows = _fetch(
        f"""
        SELECT site_id,
               sum(pv_volts[1] * pv_amps[1] + pv_volts[2] * pv_amps[2])
                   FILTER (WHERE kind = 'mppt' AND time >= %(fresh_since)s) AS pv_power,
               max(time) AS last_seen
        FROM {DeviceState._meta.db_table}
        WHERE site_id = ANY(%(site_ids)s)
        GROUP BY site_id
        """,
        {"site_ids": list(site_ids), "fresh_since": fresh_since},
    )
    return {row.pop("site_id"): row for row in rows}


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
    packs = _pack_figures_by_site(site_ids)
    devices = _device_figures_by_site(site_ids, fresh_since)
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
    readings = PackState.objects.in_bulk(list(docks))
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
    """Packs x 14 cells, each cell's deviation (mV) from the median of every closed cell on the site."""
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
    }


def site_devices(site):
    """Latest state of the site's MPPTs and inverters, each with ``pv_power``: watts per PV input."""
    states = list(
        DeviceState.objects.filter(site=site).select_related("device").order_by("kind", "device__serial")
    )
    for state in states:
        state.pv_power = [volts * amps for volts, amps in zip(state.pv_volts, state.pv_amps, strict=True)]
    return states


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


def open_discrepancies(site=None):
    discrepancies = Discrepancy.objects.filter(status=Discrepancy.Status.OPEN)
    if site is not None:
        discrepancies = discrepancies.filter(Q(observed_site=site) | Q(recorded_site=site))
    return discrepancies.select_related("case", "observed_site", "recorded_site").order_by("-last_seen")


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


# --- Chart series ------------------------------------------------------------------------------------------

MAX_POINTS = 1000
SAMPLE_INTERVAL = timedelta(seconds=5)
# Coarsest first: the sources a chart can read, and the time each row covers.
ROLLUP_GRAINS = [("1h", timedelta(hours=1)), ("1m", timedelta(minutes=1)), ("raw", SAMPLE_INTERVAL)]
CELL_SERIES = [f"cell_{n}" for n in CELL_NUMBERS]
# Per source: the table and its time column.
PACK_TABLES = {"raw": (PackReading, "time"), "1m": (PackRollup1m, "bucket"), "1h": (PackRollup1h, "bucket")}
_PACK_ROLLUP_MEASURES = {
    "volts_min": "min(volts_min)",
    "volts_avg": "sum(volts_avg * n) / sum(n)",
    "volts_max": "max(volts_max)",
    "amps_min": "min(amps_min)",
    "amps_avg": "sum(amps_avg * n) / sum(n)",
    "amps_max": "max(amps_max)",
    "temp_max": "max(temp_max)",
    "cell_min": "min(cell_min)",
    "cell_max": "max(cell_max)",
}
# Per source: the SQL of each pack measure over one bucket.
PACK_MEASURES = {
    "raw": {
        "volts_min": "min(volts)",
        "volts_avg": "avg(volts)",
        "volts_max": "max(volts)",
        "amps_min": "min(amps)",
        "amps_avg": "avg(amps)",
        "amps_max": "max(amps)",
        "temp_max": "max(GREATEST(temps[1], temps[2], temps[3]))",
        "cell_min": f"min({closed_cells('LEAST')})",
        "cell_max": f"max({closed_cells('GREATEST')})",
    },
    "1m": _PACK_ROLLUP_MEASURES,
    "1h": _PACK_ROLLUP_MEASURES,
}
# Per source: the SQL of each cell's average over one bucket.
_CELL_ROLLUP_MEASURES = dict(zip(CELL_SERIES, cell_averages("cell_volts_avg"), strict=True))
CELL_MEASURES = {
    "raw": {name: f"avg(cell_volts[{n}])" for name, n in zip(CELL_SERIES, CELL_NUMBERS, strict=True)},
    "1m": _CELL_ROLLUP_MEASURES,
    "1h": _CELL_ROLLUP_MEASURES,
}
DEVICE_MEASURES = ("pv1_power", "pv2_power", "batt_volts", "batt_amps", "load_power")
DEVICE_RAW = {
    "pv1_power": "avg(pv_volts[1] * pv_amps[1])",
    "pv2_power": "avg(pv_volts[2] * pv_amps[2])",
    "batt_volts": "avg(batt_volts)",
    "batt_amps": "avg(batt_amps)",
    "load_power": "avg(load_volts[1] * load_amps[1] + load_volts[2] * load_amps[2])",
}
DEVICE_ROLLUP = {measure: f"sum({measure}_avg * n) / sum(n)" for measure in DEVICE_MEASURES}


@dataclass(frozen=True)
class Resolution:
    """How a chart over [start, end) is drawn: bucket width and the table it reads."""

    start: datetime
    end: datetime
    bucket: timedelta
    source: str


def resolution(start, end):
    """At most MAX_POINTS buckets, read from the coarsest table whose grain is at most twice the bucket."""
    bucket = max((end - start) / MAX_POINTS, SAMPLE_INTERVAL)
    source, grain = next(
        (source, grain) for source, grain in ROLLUP_GRAINS if grain <= 2 * bucket or source == "raw"
    )
    bucket = timedelta(seconds=math.ceil(max(bucket, grain).total_seconds()))
    return Resolution(start=start, end=end, bucket=bucket, source=source)


def _number(value):
    return None if value is None else round(float(value), 3)


def _columns(rows, measures):
    """Rows of dicts -> {"t": [epoch ms], measure: [values]}, the shape the charts read."""
    series = {"t": [int(row["t"].timestamp() * 1000) for row in rows]}
    for measure in measures:
        series[measure] = [_number(row[measure]) for row in rows]
    return series


def _entity_filter(*, site=None, case=None):
    if case is not None:
        return "case_id = %(case_id)s", {"case_id": case.pk}
    return "site_id = %(site_id)s", {"site_id": site.pk}


def _pack_buckets(*, resolution, measures, site=None, case=None):
    """``measures`` ({name: SQL aggregate}) per bucket over the pack table of ``resolution``'s source, for
    every pack of ``site`` or for one ``case`` (wherever it was)."""
    model, time_column = PACK_TABLES[resolution.source]
    where, params = _entity_filter(site=site, case=case)
    rows = _fetch(
        f"""
        SELECT time_bucket(%(bucket)s, {time_column}) AS t,
               {", ".join(f"{sql} AS {name}" for name, sql in measures.items())}
        FROM {model._meta.db_table}
        WHERE {where} AND {time_column} >= %(start)s AND {time_column} < %(end)s
        GROUP BY t ORDER BY t
        """,
        {**params, "bucket": resolution.bucket, "start": resolution.start, "end": resolution.end},
    )
    return _columns(rows, measures)


def pack_series(*, resolution, site=None, case=None):
    """Pack figures per bucket over every pack of ``site`` (min/avg/max across packs), or of one ``case``."""
    measures = PACK_MEASURES[resolution.source]
    return _pack_buckets(resolution=resolution, measures=measures, site=site, case=case)


def cell_series(*, resolution, case):
    """The average of each of the case's 14 cells per bucket, from the same source as the other series."""
    return _pack_buckets(resolution=resolution, measures=CELL_MEASURES[resolution.source], case=case)


def device_series(*, resolution, site):
    """MPPT and inverter figures per device per bucket: [{"id", "kind", "t", measure: [...]}, ...]."""
    if resolution.source == "raw":
        sources = [
            (MpptReading._meta.db_table, "time", f"'{DeviceKind.MPPT}'", DEVICE_RAW),
            (InverterReading._meta.db_table, "time", f"'{DeviceKind.INVERTER}'", DEVICE_RAW),
        ]
    else:
        table = (DeviceRollup1h if resolution.source == "1h" else DeviceRollup1m)._meta.db_table
        sources = [(table, "bucket", "kind", DEVICE_ROLLUP)]
    selects = [
        f"""
        SELECT device_id, {kind} AS kind, time_bucket(%(bucket)s, {time_column}) AS t,
               {", ".join(f"{sql} AS {name}" for name, sql in measures.items())}
        FROM {table}
        WHERE site_id = %(site_id)s AND {time_column} >= %(start)s AND {time_column} < %(end)s
        GROUP BY 1, 2, 3
        """
        for table, time_column, kind, measures in sources
    ]
    rows = _fetch(
        " UNION ALL ".join(selects) + " ORDER BY device_id, t",
        {"site_id": site.pk, "bucket": resolution.bucket, "start": resolution.start, "end": resolution.end},
    )
    by_device = defaultdict(list)
    for row in rows:
        by_device[(row["device_id"], row["kind"])].append(row)
    names = dict(
        Component.objects.filter(pk__in=[device_id for device_id, _ in by_device]).values_list(
            "pk", "configured_id"
        )
    )
    return [
        {"id": names.get(device_id) or str(device_id), "kind": kind, **_columns(device_rows, DEVICE_MEASURES)}
        for (device_id, kind), device_rows in by_device.items()
    ]


def case_life_start(case):
    """When the case first reported, or None: the start of its first rollup bucket, else (nothing rolled up
    yet) its first raw reading of the last day. Every reading is rolled up within minutes (later ones are
    refreshed when they arrive), and a raw query without a time bound would plan every hourly chunk
    (measured: 70 ms with 30 days of data)."""
    for model in (PackRollup1h, PackRollup1m):
        first = model.objects.filter(case=case).order_by("bucket").values_list("bucket", flat=True).first()
        if first is not None:
            return first
    recent = PackReading.objects.filter(case=case, time__gte=timezone.now() - timedelta(days=1))
    return recent.order_by("time").values_list("time", flat=True).first()


# --- CSV export --------------------------------------------------------------------------------------------

PACK_CSV_HEADER = [
    "time_utc",
    "case_id",
    "dock",
    "volts",
    "amps",
    *(f"temp_{n}" for n in range(1, 4)),
    *(f"cell_{n}_volts" for n in CELL_NUMBERS),
    "open_cells",
    "open_fets",
    "fet_1_temp",
    "fet_2_temp",
]
DEVICE_CSV_HEADER = [
    "time_utc",
    "device_id",
    "pv_1_volts",
    "pv_2_volts",
    "pv_1_amps",
    "pv_2_amps",
    "batt_volts",
    "batt_amps",
    "load_1_volts",
    "load_2_volts",
    "load_1_amps",
    "load_2_amps",
]
EXPORT_CHUNK = 2000


def _joined(numbers):
    return " ".join(str(number) for number in numbers)


def pack_csv_rows(*, start, end, site=None, case=None):
    """Pack readings as CSV rows, oldest first, read in chunks through a server-side cursor."""
    readings = PackReading.objects.filter(time__gte=start, time__lt=end)
    readings = readings.filter(case=case) if case is not None else readings.filter(site=site)
    values = readings.order_by("time", "case_id").values_list(
        "time",
        "case__serial",
        "dock",
        "volts",
        "amps",
        "temps",
        "cell_volts",
        "open_cells",
        "fet_open",
        "fet_temps",
    )
    for time, serial, dock, volts, amps, temps, cells, open_cells, fet_open, fet_temps in values.iterator(
        chunk_size=EXPORT_CHUNK
    ):
        yield [
            time.isoformat(),
            serial,
            dock,
            volts,
            amps,
            *temps,
            *cells,
            _joined(open_cells),
            _joined(fet_open),
            *fet_temps,
        ]


def device_csv_rows(*, start, end, device):
    """One MPPT's or inverter's readings as CSV rows, oldest first, in chunks."""
    model = MpptReading if device.kind == Kind.MPPT else InverterReading
    values = (
        model.objects.filter(device=device, time__gte=start, time__lt=end)
        .order_by("time")
        .values_list("time", "pv_volts", "pv_amps", "batt_volts", "batt_amps", "load_volts", "load_amps")
    )
    name = device.configured_id or device.serial
    for time, pv_volts, pv_amps, batt_volts, batt_amps, load_volts, load_amps in values.iterator(
        chunk_size=EXPORT_CHUNK
    ):
        yield [time.isoformat(), name, *pv_volts, *pv_amps, batt_volts, batt_amps, *load_volts, *load_amps]
