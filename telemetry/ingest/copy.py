"""Rows into the hypertables with COPY, re-sent rows counted apart through a staging table, and the upserts
that follow from the staged rows: the latest state of each pack and device, and the open discrepancies."""

from collections import Counter
from itertools import chain, islice

from django.db import transaction
from psycopg.copy import QueuedLibpqWriter
from psycopg.errors import UniqueViolation

from telemetry.models import DatasetKind, DeviceState, InverterReading, MpptReading, PackReading, PackState

PACK_COLUMNS = [
    "time", "utc_offset_minutes", "case_id", "site_id", "dock", "volts", "amps",
    "temps", "cell_volts", "open_cells", "fet_open", "fet_temps", "batch_id",
]  # fmt: skip
DEVICE_COLUMNS = [
    "time", "utc_offset_minutes", "device_id", "site_id", "pv_volts", "pv_amps",
    "batt_volts", "batt_amps", "load_volts", "load_amps", "batch_id",
]  # fmt: skip
COPY_CHUNK_LINES = 500
READING_TABLES = {
    DatasetKind.PMS: PackReading._meta.db_table,
    DatasetKind.MPPT: MpptReading._meta.db_table,
    DatasetKind.INVERTER: InverterReading._meta.db_table,
}


def store_readings(cursor, kind, rows, parts, received, stored):
    """Store the readings of one kind, ``rows`` from lines.py, and bring the latest state up to date with
    them; adds to the ``received`` and ``stored`` Counters by part index."""
    columns = PACK_COLUMNS if kind == DatasetKind.PMS else DEVICE_COLUMNS
    table = READING_TABLES[kind]
    kind_received, kind_stored = _copy_and_insert(cursor, table, columns, rows, parts)
    received.update(kind_received)
    stored.update(kind_stored)
    if not kind_received:
        return
    if kind == DatasetKind.PMS:
        state_table, key, extra = PackState._meta.db_table, "case_id", {}
    else:
        state_table, key, extra = DeviceState._meta.db_table, "device_id", {"kind": f"'{kind}'"}
    latest_columns = columns[:-1]  # all but batch_id
    _upsert_latest(
        cursor, stage=f"stage_{table}", state_table=state_table, key=key, columns=latest_columns, extra=extra
    )


def upsert_discrepancies(cursor, sightings):
    """Open a discrepancy for each of ``sightings`` (from lines.pack_lines), or widen the open one."""
    rows = [
        (case, site, dock, seen.kind, seen.recorded_site_id, seen.recorded_dock, seen.first_seen,
         seen.last_seen, seen.sample_count)
        for (case, site, dock), seen in sightings.items()
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


def _copy_and_insert(cursor, table, columns, rows, parts):
    """Store ``rows``, (part index, entity, time, COPY text line) with None as NULL, in ``table``; leave in
    the staging table ``stage_<table>`` the rows the latest state is updated from. Returns two Counters by
    part index: rows received, rows stored.

    A re-sent reading must be counted as a duplicate, never stored twice: the issue's way is COPY into a
    staging table, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``. That second write of every row cost
    more than the COPY itself, and almost every payload is new data. So the rows are first COPYed straight
    into ``table`` inside a savepoint; only if that meets a row already stored (UniqueViolation: a re-send,
    or a reading repeated within the payload) is the savepoint rolled back and the staging path taken with
    the same lines, which counts exactly what was new. The direct path stages just the newest row of each
    entity, for the latest state.

    Lines are sent in chunks as they are generated (in the order of the parts), so the server parses one
    chunk while Python formats the next; the chunks are kept for the fallback, which cannot generate them
    again."""
    stage = f"stage_{table}"
    column_list = ", ".join(columns)
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    cursor.execute(f"DELETE FROM {stage}")
    newest_lines, sent, received = {}, [], Counter()
    chunks = _chunks(rows, newest_lines, sent, received)
    try:
        with transaction.atomic():
            _copy(cursor, table, column_list, chunks)
    except UniqueViolation:
        _copy(cursor, stage, column_list, chain(list(sent), chunks))
        cursor.execute(
            f"WITH stored AS (INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} "
            "ORDER BY ctid ON CONFLICT DO NOTHING RETURNING batch_id) "
            "SELECT batch_id, count(*) FROM stored GROUP BY batch_id"
        )
        part_of_batch = {part.batch_id: part.index for part in parts}
        return received, Counter({part_of_batch[batch_id]: count for batch_id, count in cursor.fetchall()})
    _copy(cursor, stage, column_list, ["".join(newest_lines.values())])
    return received, received


def _chunks(rows, newest_lines, sent, received):
    """COPY text of up to COPY_CHUNK_LINES ``rows`` each, also appended to ``sent``; counts in ``received``
    the rows of each part, and notes in ``newest_lines`` the line of each entity's newest row."""
    newest_times = {}
    rows = iter(rows)
    while chunk := list(islice(rows, COPY_CHUNK_LINES)):
        lines = []
        for part_index, entity, moment, line in chunk:
            lines.append(line)
            received[part_index] += 1
            newest = newest_times.get(entity)
            if newest is None or moment > newest:
                newest_times[entity] = moment
                newest_lines[entity] = line
        sent.append("".join(lines))
        yield sent[-1]


def _copy(cursor, table, column_list, chunks):
    # The queued writer sends from a thread of its own, so formatting the next chunk goes on while the
    # server reads this one.
    statement = f"COPY {table} ({column_list}) FROM STDIN (NULL 'None')"
    with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        for text in chunks:
            copy.write(text)


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
