"""1-minute and 1-hour min/avg/max rollups of the readings, kept up to date by Celery beat.

Apache-edition TimescaleDB has no continuous aggregates, so each refresh is one ``INSERT ... SELECT
time_bucket(...) ... ON CONFLICT DO UPDATE`` per rollup table over a time range: re-running it over the same
range gives the same rows. Beat re-computes the recent buckets with a lateness margin, so readings that
arrive a little late are counted; ``refresh_rollups`` over any range (``manage.py refresh_rollups``) covers
backfills, and ``rollups_refresh_late`` the minutes (and their hours) that readings arriving later than
beat's margin fall in, noted as due by the ingest that stored them.

1-minute rollups come from the raw readings, 1-hour rollups from the 1-minute rollups (averages weighted by
the number of readings), so the hourly figures can be re-computed after raw retention has dropped the
readings.

What they keep of each reading is defined in telemetry/measures.py, which the charts read too. Pack rollups
also keep each cell's average (``cell_volts_avg``, for the per-cell chart of a case's life).

Site rollups hold the site chart's figures across a site's packs, one row per site and bucket, aggregated
from the pack rollups of the same width right after those are refreshed (in the same transaction), so a
site chart over a week reads 10,080 rows rather than 48 times that.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from telemetry.measures import (
    CELL_AVERAGES_COLUMN,
    DEVICE_MEASURES,
    PACK_MEASURES,
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
from telemetry.signals import rollups_refreshed

ADVISORY_LOCK_CLASS = 0x524F4C4C  # "ROLL"
ONE_MINUTE = timedelta(minutes=1)
ONE_HOUR = timedelta(hours=1)


def _array(expressions):
    return f"ARRAY[{', '.join(expressions)}]::real[]"


def _columns(measures):
    """(column, aggregate over readings, aggregate over finer rollups) of each statistic of ``measures``."""
    return [
        (measure.column(stat), measure.of_readings(stat), measure.of_rollups(stat))
        for measure in measures
        for stat in measure.stats
    ]


PACK_COLUMNS = [
    *_columns(PACK_MEASURES),
    (CELL_AVERAGES_COLUMN, _array(cell_averages_of_readings()), _array(cell_averages_of_rollups())),
]
DEVICE_COLUMNS = _columns(DEVICE_MEASURES)
SITE_COLUMNS = [
    (measure.column(stat), None, measure.of_rollups(stat)) for measure, stat in pack_chart_measures()
]


@dataclass(frozen=True)
class Rollup:
    table: str
    keys: tuple[str, ...]  # besides the bucket; the first is the entity (case, device or site)
    sources: tuple[tuple[str, str], ...]  # (table, constant columns to add), combined with UNION ALL
    time_column: str  # of the sources
    measures: list  # (column, aggregate over readings, aggregate over finer rollups)
    from_rollup: bool  # aggregates finer rollups rather than readings

    def upsert_sql(self, *, of_entities=False):
        """The upsert of the buckets in [%(start)s, %(end)s); ``of_entities``: of the entities (cases,
        devices or sites) in %(entities)s only."""
        aggregates = [rollup if self.from_rollup else raw for _, raw, rollup in self.measures]
        count = "sum(n)" if self.from_rollup else "count(*)"
        # Rows of a case or device are at the site of its last reading in the bucket.
        located = [] if "site_id" in self.keys else [f"last(site_id, {self.time_column})"]
        columns = [
            "bucket",
            *self.keys,
            *(["site_id"] if located else []),
            "n",
            *(column for column, _, _ in self.measures),
        ]
        in_range = f"{self.time_column} >= %(start)s AND {self.time_column} < %(end)s"
        if of_entities:
            in_range += f" AND {self.keys[0]} = ANY(%(entities)s)"
        source = " UNION ALL ".join(
            f"SELECT {extra}* FROM {table} WHERE {in_range}" for table, extra in self.sources
        )
        updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns[len(self.keys) + 1 :])
        return (
            f"INSERT INTO {self.table} ({', '.join(columns)}) "
            f"SELECT time_bucket(%(width)s, {self.time_column}) AS bucket, {', '.join(self.keys)}, "
            f"{''.join(f'{column}, ' for column in located)}{count}, {', '.join(aggregates)} "
            f"FROM ({source}) AS source "
            f"GROUP BY 1, {', '.join(self.keys)} "
            f"ON CONFLICT ({self.keys[0]}, bucket) DO UPDATE SET {updates}"
        )


def _rollups(minute_model, hour_model, keys, measures, readings):
    """The 1-minute rollup of ``readings`` ((model, constant columns) pairs) and the 1-hour rollup of that."""
    minute = Rollup(
        table=minute_model._meta.db_table,
        keys=keys,
        sources=tuple((model._meta.db_table, extra) for model, extra in readings),
        time_column="time",
        measures=measures,
        from_rollup=False,
    )
    hour = Rollup(
        table=hour_model._meta.db_table,
        keys=keys,
        sources=((minute.table, ""),),
        time_column="bucket",
        measures=measures,
        from_rollup=True,
    )
    return minute, hour


PACK_1M, PACK_1H = _rollups(PackRollup1m, PackRollup1h, ("case_id",), PACK_COLUMNS, ((PackReading, ""),))
DEVICE_1M, DEVICE_1H = _rollups(
    DeviceRollup1m,
    DeviceRollup1h,
    ("device_id", "kind"),
    DEVICE_COLUMNS,
    (
        (MpptReading, f"'{DeviceKind.MPPT}' AS kind, "),
        (InverterReading, f"'{DeviceKind.INVERTER}' AS kind, "),
    ),
)
SITE_1M, SITE_1H = (
    Rollup(
        table=model._meta.db_table,
        keys=("site_id",),
        sources=((packs.table, ""),),
        time_column="bucket",
        measures=SITE_COLUMNS,
        from_rollup=True,
    )
    for model, packs in ((SiteRollup1m, PACK_1M), (SiteRollup1h, PACK_1H))
)
ROLLUPS = {ONE_MINUTE: (PACK_1M, DEVICE_1M), ONE_HOUR: (PACK_1H, DEVICE_1H)}
SITE_ROLLUPS = {ONE_MINUTE: SITE_1M, ONE_HOUR: SITE_1H}
# One statement covers at most this much time, so a long backfill is a series of moderate transactions.
WINDOWS = {ONE_MINUTE: timedelta(days=1), ONE_HOUR: timedelta(days=7)}
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def bucket_start(at, width):
    """The start of the ``width`` bucket holding ``at``, in UTC (buckets are aligned to UTC, as time_bucket's
    are, also for a time given with a half-hour UTC offset)."""
    at = at.astimezone(UTC)
    return at - (at - EPOCH) % width


def refresh_rollups(*, width, start, end):
    """Re-compute every ``width`` bucket (1 minute or 1 hour) that overlaps [start, end).

    Returns the number of rollup rows written. 1-hour rollups read the 1-minute ones: refresh those first.
    Once committed, ``rollups_refreshed`` tells the apps above which buckets changed.
    """
    written = 0
    window_start = first_start = bucket_start(start, width)
    last_end = bucket_start(end, width)
    if last_end < end:
        last_end += width
    while window_start < last_end:
        window_end = min(window_start + WINDOWS[width], last_end)
        with transaction.atomic(), connection.cursor() as cursor:
            _lock_width(cursor, width)
            # JIT-compiling the hundred-odd aggregate expressions of a day's window took up to 2 s a
            # statement, more than it saved.
            cursor.execute("SET LOCAL jit = off")
            span = {"width": width, "start": window_start, "end": window_end}
            for rollup in ROLLUPS[width]:
                cursor.execute(rollup.upsert_sql(), span)
                written += cursor.rowcount
            written += _refresh_sites(cursor, width=width, span=span)
        window_start = window_end
    transaction.on_commit(
        lambda: rollups_refreshed.send(sender=None, width=width, start=first_start, end=last_end)
    )
    return written


def _lock_width(cursor, width):
    # One refresh of a width at a time (beat and a backfill may overlap): upserts of the same rows in
    # different orders could otherwise deadlock.
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK_CLASS, int(width.total_seconds())])


def _refresh_sites(cursor, *, width, span, site_ids=None):
    """Re-compute the ``width`` site rollups of the buckets in ``span`` from the pack rollups (of the sites
    ``site_ids`` only, if given), dropping those no pack row is left in. Returns the rows written."""
    rollup = SITE_ROLLUPS[width]
    of_sites = site_ids is not None
    params = {**span, "entities": site_ids} if of_sites else span
    cursor.execute(
        f"DELETE FROM {rollup.table} AS site WHERE site.bucket >= %(start)s AND site.bucket < %(end)s "
        f"{'AND site.site_id = ANY(%(entities)s) ' if of_sites else ''}"
        f"AND NOT EXISTS (SELECT FROM {rollup.sources[0][0]} AS pack "
        "WHERE pack.site_id = site.site_id AND pack.bucket = site.bucket)",
        params,
    )
    cursor.execute(rollup.upsert_sql(of_entities=of_sites), params)
    return cursor.rowcount


def pack_rollups_refresh_cases(*, case_ids, start, end):
    """Re-compute the 1-minute, then 1-hour, rollups of the cases ``case_ids`` in the buckets [start, end)
    overlaps, dropping those left without readings, and the site rollups of the sites they were or are at:
    after readings moved from one case to another."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # as in refresh_rollups
        for width, rollup in ((ONE_MINUTE, PACK_1M), (ONE_HOUR, PACK_1H)):
            _lock_width(cursor, width)
            span = {
                "width": width,
                "start": bucket_start(start, width),
                "end": _bucket_end(end, width),
                "entities": list(case_ids),
            }
            in_span = "case_id = ANY(%(entities)s) AND bucket >= %(start)s AND bucket < %(end)s"
            cursor.execute(f"DELETE FROM {rollup.table} WHERE {in_span} RETURNING site_id", span)
            site_ids = {site_id for (site_id,) in cursor.fetchall()}
            cursor.execute(rollup.upsert_sql(of_entities=True), span)
            cursor.execute(f"SELECT DISTINCT site_id FROM {rollup.table} WHERE {in_span}", span)
            site_ids.update(site_id for (site_id,) in cursor.fetchall())
            _refresh_sites(cursor, width=width, span=span, site_ids=sorted(site_ids))


def refresh_recent_rollups(*, width, now=None):
    """Beat's refresh: the buckets of the last lateness margin (a setting per width) up to now."""
    now = now or timezone.now()
    lateness = {
        ONE_MINUTE: settings.TELEMETRY_ROLLUP_1M_LATENESS,
        ONE_HOUR: settings.TELEMETRY_ROLLUP_1H_LATENESS,
    }[width]
    return refresh_rollups(width=width, start=now - lateness, end=now)


LATE_NOTES_PER_REFRESH = 1000  # about 20 batch groups' worth of notes


def late_minutes(*, times, now=None):
    """Of reading times just stored, the UTC minutes holding those that beat's refresh will not reach (older
    than the 1-minute lateness margin: a gateway's backlog, a backfill)."""
    margin_start = (now or timezone.now()) - settings.TELEMETRY_ROLLUP_1M_LATENESS
    return {bucket_start(moment, ONE_MINUTE) for moment in times if moment < margin_start}


def late_minutes_note(*, minutes):
    """Note ``minutes`` (from ``late_minutes``) as due for ``rollups_refresh_late``, in the caller's
    transaction."""
    with connection.cursor() as cursor:
        cursor.execute(NOTE_LATE_SQL, [sorted(minutes)])


def rollups_refresh_late(*, limit=LATE_NOTES_PER_REFRESH):
    """Refresh the rollups of the due late minutes, the oldest first (up to ``limit`` notes of them), and of
    their hours, in the transaction that takes the notes off the list (a worker that dies mid-way leaves them
    due). Notes taken by another refresh running at the same time are left to it. Returns whether notes may
    still be due.

    Under a gateway's backlog, batch after batch notes the same hours: refreshing them together, rather than
    after each batch, re-computes each hour once."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(TAKE_LATE_SQL, {"limit": limit})
            notes = [minute for (minute,) in cursor.fetchall()]
        if notes:
            rollups_refresh_ranges(ranges=minute_ranges(times=notes))
    return len(notes) == limit


NOTE_LATE_SQL = "INSERT INTO telemetry_laterollupminute (minute) SELECT unnest(%s::timestamptz[])"
TAKE_LATE_SQL = """
DELETE FROM telemetry_laterollupminute WHERE id IN (
    SELECT id FROM telemetry_laterollupminute ORDER BY minute LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
RETURNING minute
"""


def rollups_refresh_ranges(*, ranges):
    """Re-compute the 1-minute rollups of the minutes in ``ranges`` ([start, end) pairs), then the 1-hour
    rollups of the hours holding them. Nothing between distant ranges is touched: the cost follows the
    minutes refreshed, not how far apart they are. Returns the number of rollup rows written."""
    minutes = _merged(
        (bucket_start(start, ONE_MINUTE), _bucket_end(end, ONE_MINUTE)) for start, end in ranges
    )
    hours = _merged((bucket_start(start, ONE_HOUR), _bucket_end(end, ONE_HOUR)) for start, end in minutes)
    return sum(
        refresh_rollups(width=width, start=start, end=end)
        for width, spans in ((ONE_MINUTE, minutes), (ONE_HOUR, hours))
        for start, end in spans
    )


def _bucket_end(end, width):
    """The end of the last ``width`` bucket that [.., end) overlaps."""
    start = bucket_start(end, width)
    return start if start == end else start + width


def minute_ranges(*, times):
    """[start, end) ranges covering the UTC minutes holding ``times``, adjacent minutes merged."""
    return _merged(
        (start, start + ONE_MINUTE) for start in {bucket_start(moment, ONE_MINUTE) for moment in times}
    )


def _merged(spans):
    """[start, end) spans sorted, those that touch or overlap merged."""
    merged = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [tuple(span) for span in merged]


def refresh_all_rollups(*, start, end):
    """Both resolutions over a range, finest first: what a backfill calls once its readings are stored."""
    return sum(refresh_rollups(width=width, start=start, end=end) for width in (ONE_MINUTE, ONE_HOUR))
