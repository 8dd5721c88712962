"""Rows into the hypertables with COPY, re-sent rows counted apart through a staging table, and the upserts
that follow from the staged rows: the latest state of each pack and device, and the open discrepancies."""

import sys
from collections import Counter
from contextlib import contextmanager
from itertools import chain

from django.db import transaction
from psycopg.copy import QueuedLibpqWriter
from psycopg.errors import UniqueViolation

from telemetry.discrepancies import discrepancy_kind
from telemetry.ingest.lines import PACK_COLUMNS
from telemetry.models import DatasetKind, DeviceState, InverterReading, MpptReading, PackReading, PackState

DEVICE_COLUMNS = [
    "time", "utc_offset_minutes", "device_id", "site_id", "pv_volts", "pv_amps",
    "batt_volts", "batt_amps", "load_volts", "load_amps", "batch_id",
]  # fmt: skip
COPY_SWITCH_INTERVAL = 0.0005  # seconds: see _gil_handed_over_often
READING_TABLES = {
    DatasetKind.PMS: PackReading._meta.db_table,
    DatasetKind.MPPT: MpptReading._meta.db_table,
    DatasetKind.INVERTER: InverterReading._meta.db_table,
}


def store_readings(cursor, kind, chunks, sent, parts, received, stored, sightings=None):
    """Store the readings of one kind, the COPY text ``chunks`` from lines.py that note in ``sent``
    (lines.Sent) what they hold, and bring the latest state up to date with them; adds to the ``received``
    and ``stored`` Counters by part index. ``sightings``: those that lines.pack_chunks notes while the pack
    rows are sent; each keeps only the times of its readings stored here, not those already stored by an
    earlier ingest."""
    if kind == DatasetKind.PMS:
        columns, state_table, key, extra = PACK_COLUMNS, PackState._meta.db_table, "case_id", {}
    else:
        columns, state_table, key = DEVICE_COLUMNS, DeviceState._meta.db_table, "device_id"
        extra = {"kind": f"'{kind}'"}
    table = READING_TABLES[kind]
    kind_received, kind_stored = _copy_and_insert(cursor, table, columns, key, chunks, sent, parts, sightings)
    received.update(kind_received)
    stored.update(kind_stored)
    if not kind_received:
        return
    latest_columns = [column for column in columns if column not in ("board_id", "batch_id")]
    _upsert_latest(
        cursor, stage=f"stage_{table}", state_table=state_table, key=key, columns=latest_columns, extra=extra
    )


def upsert_discrepancies(cursor, sightings):
    """Open a discrepancy for each of ``sightings`` (from lines.pack_lines) with stored readings, or widen the
    open one: its sample count grows by the readings stored."""
    rows = [
        (case, site, dock, discrepancy_kind(case_id=case, site_id=site, pms_dock=dock,
         recorded_site_id=seen.recorded_site_id, at=max(seen.moments)), seen.recorded_site_id,
         seen.recorded_dock, min(seen.moments), max(seen.moments), len(seen.moments))
        for (case, site, dock), seen in sightings.items()
        if seen.moments
    ]  # fmt: skip
    cursor.executemany(
        "INSERT INTO telemetry_discrepancy (case_id, observed_site_id, observed_dock, kind, "
        "recorded_site_id, recorded_dock, first_seen, last_seen, sample_count, status, note) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'open', '') "
        "ON CONFLICT (case_id, observed_site_id, observed_dock) WHERE status = 'open' DO UPDATE SET "
        "kind = EXCLUDED.kind, recorded_site_id = EXCLUDED.recorded_site_id, "
        "recorded_dock = EXCLUDED.recorded_dock, "
        "first_seen = LEAST(telemetry_discrepancy.first_seen, EXCLUDED.first_seen), "
        "last_seen = GREATEST(telemetry_discrepancy.last_seen, EXCLUDED.last_seen), "
        "sample_count = telemetry_discrepancy.sample_count + EXCLUDED.sample_count",
        rows,
    )


def _copy_and_insert(cursor, table, columns, entity, chunks, sent, parts, sightings):
    """Store the COPY text ``chunks`` (None as NULL) in ``table``; leave in the staging table
    ``stage_<table>`` the rows the latest state is updated from; ``entity``: the column of the case or device.
    Returns two Counters by part index: rows received, rows stored.

    A re-sent reading must be counted as a duplicate, never stored twice: the issue's way is COPY into a
    staging table, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``. That second write of every row cost
    more than the COPY itself, and almost every payload is new data. So the rows are first COPYed straight
    into ``table`` inside a savepoint; only if that meets a row already stored (UniqueViolation: a re-send,
    or a reading repeated within the payload) is the savepoint rolled back and the staging path taken with
    the same lines, which counts exactly what was new, and tells the ``sightings`` which of their readings
    were. The direct path stages just the newest row of each entity, for the latest state.

    Lines are sent in chunks as they are generated (in the order of the parts), so the server parses one
    chunk while Python decodes and formats the next; ``sent`` keeps the chunks for the fallback, which cannot
    generate them again, and the newest line of each entity."""
    stage = f"stage_{table}"
    column_list = ", ".join(columns)
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    cursor.execute(f"DELETE FROM {stage}")
    try:
        with transaction.atomic():
            _copy(cursor, table, column_list, chunks)
    except UniqueViolation:
        _copy(cursor, stage, column_list, chain(list(sent.chunks), chunks))
        watched = sorted({case_id for case_id, _, _ in sightings or ()})
        cursor.execute(
            f"WITH stored AS (INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} "
            f"ORDER BY ctid ON CONFLICT DO NOTHING RETURNING batch_id, {entity}, time) "
            # One pass over the group's rows: both arrays list them in the same order.
            f"SELECT batch_id, count(*), array_agg({entity}) FILTER (WHERE {entity} = ANY(%(watched)s)), "
            f"array_agg(time) FILTER (WHERE {entity} = ANY(%(watched)s)) FROM stored GROUP BY batch_id",
            {"watched": watched},
        )
        part_of_batch = {part.batch_id: part.index for part in parts}
        stored, watched_stored = Counter(), set()
        for batch_id, count, entities, times in cursor.fetchall():
            stored[part_of_batch[batch_id]] = count
            watched_stored.update(zip(entities or (), times or (), strict=True))
        for (case_id, _, _), seen in (sightings or {}).items():
            seen.moments = [moment for moment in seen.moments if (case_id, moment) in watched_stored]
        return sent.received, stored
    _copy(cursor, stage, column_list, [sent.newest_text()])
    return sent.received, sent.received


def _copy(cursor, table, column_list, chunks):
    # The queued writer sends from a thread of its own, so formatting the next chunk goes on while the
    # server reads this one.
    statement = f"COPY {table} ({column_list}) FROM STDIN (NULL 'None')"
    with _gil_handed_over_often(), cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        for text in chunks:
            copy.write(text)


@contextmanager
def _gil_handed_over_often():
    """The writer thread needs the GIL each time the socket takes more of a chunk, while this thread
    formats the next one without a pause: by default it waits up to 5 ms for it (``sys.getswitchinterval``)
    every time, and PostgreSQL sat idle for most of the COPY (measured: the COPY's part of an ingest took
    1.6 times as long)."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, COPY_SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def _upsert_latest(cursor, *, stage, state_table, key, columns, extra):
    """The newest staged row per entity replaces the state row, unless the state row is newer."""
    names = [*columns, *extra, "updated_at"]
    values = [*columns, *extra.values(), "now()"]
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names if name != key)
    cursor.execute(
        f"INSERT INTO {state_table} ({', '.join(names)}) "
        f"SELECT DISTINCT ON ({key}) {', '.join(values)} FROM {stage} ORDER BY {key}, time DESC "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE {state_table}.time < EXCLUDED.time"
    )
