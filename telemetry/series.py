"""Chart series over the readings and their rollups, for the site and case pages.

A chart over [start, end) gets at most MAX_POINTS buckets, read from the coarsest table whose rows are fine
enough: raw readings for short ranges, 1-minute rollups for days, 1-hour rollups for months (a site's pack
chart reads the site rollups, one row per bucket across its packs). The figures are those of
telemetry/measures.py, aggregated the same way over each table.
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from assets.constants import CELL_NUMBERS
from assets.models import Component, Site
from telemetry.measures import (
    AVG,
    DEVICE_MEASURES,
    cell_averages_of_readings,
    cell_averages_of_rollups,
    pack_chart_measures,
)
from telemetry.models import (
    DeviceKind,
    DeviceRollup1h,
    DeviceRollup1m,
    InverterReading,
    MpptReading,
    PackReading,
    PackRollup1h,
    PackRollup1m,
    SiteRollup1h,
    SiteRollup1m,
)
from telemetry.selectors import fetch_dicts

MAX_POINTS = 1000
SAMPLE_INTERVAL = timedelta(seconds=5)
RAW, MINUTES, HOURS = "raw", "1m", "1h"
# Coarsest first: the sources a chart can read, and the time each row covers.
ROLLUP_GRAINS = [(HOURS, timedelta(hours=1)), (MINUTES, timedelta(minutes=1)), (RAW, SAMPLE_INTERVAL)]
# Per source: the pack table and its time column, for one case and for a site (whose rollups are kept
# across its packs, telemetry/rollups.py).
PACK_TABLES = {RAW: (PackReading, "time"), MINUTES: (PackRollup1m, "bucket"), HOURS: (PackRollup1h, "bucket")}
SITE_TABLES = {**PACK_TABLES, MINUTES: (SiteRollup1m, "bucket"), HOURS: (SiteRollup1h, "bucket")}
CELL_SERIES = [f"cell_{n}" for n in CELL_NUMBERS]


@dataclass(frozen=True)
class Resolution:
    """How a chart over [start, end) is drawn: bucket width and the table it reads."""

    start: datetime
    end: datetime
    bucket: timedelta
    source: str


def series_resolution(*, start: datetime, end: datetime) -> Resolution:
    """At most MAX_POINTS buckets, read from the coarsest table whose grain is at most twice the bucket."""
    bucket = max((end - start) / MAX_POINTS, SAMPLE_INTERVAL)
    source, grain = next(
        (source, grain) for source, grain in ROLLUP_GRAINS if grain <= 2 * bucket or source == RAW
    )
    bucket = timedelta(seconds=math.ceil(max(bucket, grain).total_seconds()))
    return Resolution(start=start, end=end, bucket=bucket, source=source)


def _aggregate(measure, stat, source):
    """SQL of one statistic of ``measure`` over one bucket of ``source``'s rows."""
    return measure.of_readings(stat) if source == RAW else measure.of_rollups(stat)


def _pack_chart_measures(source):
    return {
        measure.column(stat): _aggregate(measure, stat, source) for measure, stat in pack_chart_measures()
    }


def _cell_measures(source):
    averages = cell_averages_of_readings() if source == RAW else cell_averages_of_rollups()
    return dict(zip(CELL_SERIES, averages, strict=True))


def _device_measures(source):
    return {measure.name: _aggregate(measure, AVG, source) for measure in DEVICE_MEASURES}


def _number(value):
    return None if value is None else round(float(value), 3)


def _columns(rows, measures):
    """Rows of dicts -> {"t": [epoch ms], measure: [values]}, the shape the charts read."""
    series = {"t": [int(row["t"].timestamp() * 1000) for row in rows]}
    for measure in measures:
        series[measure] = [_number(row[measure]) for row in rows]
    return series


def _pack_buckets(*, resolution, measures, site=None, case=None):
    """``measures`` ({name: SQL aggregate}) per bucket over the pack table of ``resolution``'s source, for
    every pack of ``site`` or for one ``case`` (wherever it was)."""
    if case is not None:
        model, time_column = PACK_TABLES[resolution.source]
        where, params = "case_id = %(case_id)s", {"case_id": case.pk}
    else:
        model, time_column = SITE_TABLES[resolution.source]
        where, params = "site_id = %(site_id)s", {"site_id": site.pk}
    rows = fetch_dicts(
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


def pack_series(
    *, resolution: Resolution, site: Site | None = None, case: Component | None = None
) -> dict[str, list]:
    """Pack figures per bucket over every pack of ``site`` (min/avg/max across packs), or of one ``case``:
    {"t": [epoch ms], "volts_min": [...], ...}."""
    measures = _pack_chart_measures(resolution.source)
    return _pack_buckets(resolution=resolution, measures=measures, site=site, case=case)


def cell_series(*, resolution: Resolution, case: Component) -> dict[str, list]:
    """The average of each of the case's cells per bucket, from the same source as the other series."""
    return _pack_buckets(resolution=resolution, measures=_cell_measures(resolution.source), case=case)


def device_series(*, resolution: Resolution, site: Site) -> list[dict]:
    """MPPT and inverter figures per device per bucket: [{"id", "kind", "t", measure: [...]}, ...]."""
    measures = _device_measures(resolution.source)
    if resolution.source == RAW:
        sources = [
            (MpptReading._meta.db_table, "time", f"'{DeviceKind.MPPT}'"),
            (InverterReading._meta.db_table, "time", f"'{DeviceKind.INVERTER}'"),
        ]
    else:
        table = (DeviceRollup1h if resolution.source == HOURS else DeviceRollup1m)._meta.db_table
        sources = [(table, "bucket", "kind")]
    selects = [
        f"""
        SELECT device_id, {kind} AS kind, time_bucket(%(bucket)s, {time_column}) AS t,
               {", ".join(f"{sql} AS {name}" for name, sql in measures.items())}
        FROM {table}
        WHERE site_id = %(site_id)s AND {time_column} >= %(start)s AND {time_column} < %(end)s
        GROUP BY 1, 2, 3
        """
        for table, time_column, kind in sources
    ]
    rows = fetch_dicts(
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
        {"id": names.get(device_id) or str(device_id), "kind": kind, **_columns(device_rows, measures)}
        for (device_id, kind), device_rows in by_device.items()
    ]


def data_start(*, site: Site | None = None, case: Component | None = None) -> datetime | None:
    """When ``case`` (wherever it was), or the packs of ``site``, first reported, or None: the start of the
    first rollup bucket, else (nothing rolled up yet) the first raw reading of the last day. Every reading
    is rolled up within minutes (later ones are refreshed when they arrive), and a raw query without a time
    bound would plan every hourly chunk (measured: 70 ms with 30 days of data)."""
    entity = {"case": case} if case is not None else {"site": site}
    for model in (PackRollup1h, PackRollup1m):
        first = model.objects.filter(**entity).order_by("bucket").values_list("bucket", flat=True).first()
        if first is not None:
            return first
    recent = PackReading.objects.filter(**entity, time__gte=timezone.now() - timedelta(days=1))
    return recent.order_by("time").values_list("time", flat=True).first()
