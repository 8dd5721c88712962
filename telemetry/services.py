"""Every write of telemetry goes through these functions: the endpoint, the Celery tasks, the management
commands, the admin and the benchmark call them.

The ingest core is ``ingest_payload``: decode each record (msgspec), validate, resolve identities for the
whole payload at once, COPY the valid rows into the hypertables (a re-sent sample goes through a staging
table and ``ON CONFLICT DO NOTHING`` instead, so it is counted as a duplicate, never stored twice), upsert
the latest state and the open discrepancies, and quarantine what could not be stored: all in one
transaction.
"""

import gc
import logging
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, groupby, islice
from operator import itemgetter

import msgspec
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter
from psycopg.errors import UniqueViolation

from assets.models import Component, Installation, Position
from assets.selectors import location_of_position
from assets.services import component_install, component_swap
from telemetry import queue, schemas
from telemetry.models import (
    DatasetKind,
    DeviceState,
    Discrepancy,
    IngestBatch,
    InverterReading,
    MpptReading,
    PackReading,
    PackState,
    QuarantinedRecord,
)
from telemetry.resolution import DeviceResolver, PackResolver, sites_by_pms_id
from telemetry.tokens import gateway_token_create, gateway_token_revoke, hash_token  # noqa: F401

logger = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode

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


@dataclass
class Rejection:
    kind: str
    device_id: str
    dataset_index: int
    record_index: int
    record: str
    reason: str


@dataclass
class IngestResult:
    stored: int = 0
    duplicate: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    times: set[datetime] = field(default_factory=set)  # of the valid records, for the rollups to refresh

    @property
    def quarantined(self):
        return len(self.rejections)

    @property
    def first(self):
        return min(self.times, default=None)

    @property
    def last(self):
        return max(self.times, default=None)

    def add(self, other):
        self.stored += other.stored
        self.duplicate += other.duplicate
        self.rejections += other.rejections
        self.times |= other.times


@dataclass(frozen=True)
class _Part:
    """One payload of an ingest: its envelope, the sending gateway's site (or None) and its landing row's id
    (or None). ``index`` is its place in the ingest; ``only``, (dataset index, record index) pairs in order,
    restricts it to those records."""

    index: int
    envelope: schemas.Envelope
    site: object
    batch_id: object
    only: tuple[tuple[int, int], ...] | None = None

    def datasets(self):
        """(dataset index, dataset, its (record index, raw record) pairs) that this part ingests: all, or the
        records ``only`` names."""
        if self.only is None:
            for dataset_index, dataset in enumerate(self.envelope.datasets):
                yield dataset_index, dataset, enumerate(dataset.data)
            return
        for dataset_index, places in groupby(self.only, key=itemgetter(0)):
            dataset = self.envelope.datasets[dataset_index]
            yield dataset_index, dataset, [(index, dataset.data[index]) for _, index in places]


@dataclass
class _Decoded:
    """The records that passed validation, per kind, before identities are resolved; the rejections of each
    part."""

    parts: int
    pms: list = field(default_factory=list)
    devices: dict = field(default_factory=lambda: {DatasetKind.MPPT: [], DatasetKind.INVERTER: []})
    rejections: list = field(init=False)
    times: list = field(init=False)  # the set of each part's valid records' times

    def __post_init__(self):
        self.rejections = [[] for _ in range(self.parts)]
        self.times = [set() for _ in range(self.parts)]

    def reject(self, part, dataset, dataset_index, record_index, raw, reason):
        self.rejections[part.index].append(_rejection(dataset, dataset_index, record_index, raw, reason))


def _rejection(dataset, dataset_index, record_index, raw, reason):
    return Rejection(
        kind=dataset.kind,
        device_id=_storable(dataset.device_id),
        dataset_index=dataset_index,
        record_index=record_index,
        record=_storable(bytes(raw).decode("utf-8", "replace")),
        reason=_storable(reason),
    )


def _storable(text):
    """``text`` as PostgreSQL can store it: no NUL character, no lone surrogate (both shown escaped)."""
    return text.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")


def _decode(parts):
    decoded = _Decoded(len(parts))
    parse_time = schemas.TimeParser()
    pms_ids = {
        dataset.pms.id for part in parts for _, dataset, _ in part.datasets() if dataset.pms is not None
    }
    pms_sites = sites_by_pms_id(pms_ids)
    for part in parts:
        _decode_part(decoded, part, pms_sites, parse_time)
    return decoded


def _decode_part(decoded, part, pms_sites, parse_time):
    for dataset_index, dataset, raw_records in part.datasets():
        kind, device_id = dataset.kind, dataset.device_id
        site_id = None
        if kind == DatasetKind.PMS:
            site_id = pms_sites.get(device_id)
            problem = None
            if site_id is None:
                problem = f"datasets[{dataset_index}].pms.id: {device_id!r} is not the PMS id of any site"
            elif part.site is not None and site_id != part.site.id:
                problem = (
                    f"datasets[{dataset_index}].pms.id: {device_id!r} is not the PMS of {part.site.name}"
                )
            if problem:
                for record_index, raw in raw_records:
                    decoded.reject(part, dataset, dataset_index, record_index, raw, problem)
                continue
        is_pms = kind == DatasetKind.PMS
        decode_record = schemas.decode_pms_record if is_pms else schemas.decode_device_record
        records = []
        for record_index, raw in raw_records:
            try:
                record = decode_record(raw, dataset_index, record_index)
                moment, stamp = parse_time(record.time_local, dataset_index, record_index)
            except schemas.DecodeError as error:
                decoded.reject(part, dataset, dataset_index, record_index, raw, str(error))
                continue
            records.append((record_index, raw, record, moment, stamp))
        decoded.times[part.index].update(moment for _, _, _, moment, _ in records)
        group = (part, dataset, dataset_index, site_id, records)
        if is_pms:
            decoded.pms.append(group)
        else:
            decoded.devices[kind].append(group)


def _pack_lines(decoded, resolver, discrepancies):
    """(part index, case id, time, COPY line) of the packs, generated while COPY sends them (so no queries in
    here: the connection is busy with the COPY). Notes the discrepancies the packs show in ``discrepancies``
    ({(case, site, dock): [kind, ...]}) and rejects the packs that cannot be resolved."""
    case_at, recorded_position_at = resolver.case_at, resolver.recorded_position_at
    for part, dataset, dataset_index, site_id, records in decoded.pms:
        end = f"\t{part.batch_id}\n"
        for record_index, raw, record, moment, stamp in records:
            pack = record.pack
            case_id, problem = case_at(pack.id, moment)
            if case_id is None:
                place = schemas.record_place(dataset_index, record_index)
                decoded.reject(part, dataset, dataset_index, record_index, raw, f"{place}.pack.id: {problem}")
                continue
            cell, fet = pack.cell, pack.fet
            numbers = _encode((pack.volts, pack.amps, pack.temp, cell.volts, cell.open, fet.open, fet.temp))
            if b"e-" in numbers and (problem := _tiny_number(record, dataset_index, record_index)):
                decoded.reject(part, dataset, dataset_index, record_index, raw, problem)
                continue
            yield (
                part.index,
                case_id,
                moment,
                f"{stamp}\t{case_id}\t{site_id}\t{pack.dock}\t{_pack_number_columns(numbers)}{end}",
            )
            recorded = recorded_position_at(case_id, moment)
            if recorded != (site_id, pack.dock):
                _note_discrepancy(discrepancies, case_id, site_id, pack.dock, recorded, moment)


def _pack_number_columns(encoded):
    """The JSON of (volts, amps, temps, cell volts, open cells, open FETs, FET temps) as tab-separated COPY
    text: b"[55.1,-1.6,[35.0],[],[2,3]]" -> "55.1\t-1.6\t{35.0}\t{}\t{2,3}". One msgspec call writes all the
    numbers in C; the first comma parts the two scalars, the first ",[" the scalars from the arrays."""
    return encoded.decode()[1:-2].replace("],[", "}\t{").replace(",[", "\t{", 1).replace(",", "\t", 1) + "}"


def _tiny_number(record, dataset_index, record_index):
    """A number PostgreSQL's real may refuse: formatted with an exponent, so looked for only then."""
    return schemas.tiny_number_problem(record, schemas.record_place(dataset_index, record_index))


def _array_columns(*arrays):
    """Lists of numbers as tab-separated COPY text arrays: ([1.0], [], [2, 3]) -> "{1.0}\t{}\t{2,3}".

    msgspec writes the JSON in C; JSON brackets become PostgreSQL braces."""
    return "{" + _encode(arrays).decode()[2:-2].replace("],[", "}\t{") + "}"


def _note_discrepancy(discrepancies, case_id, site_id, dock, recorded, moment):
    key = (case_id, site_id, dock)
    seen = discrepancies.get(key)
    if seen is None:
        recorded_site, recorded_dock = recorded or (None, None)
        kind = "dock_mismatch" if recorded_site == site_id else "wrong_pms"
        discrepancies[key] = [kind, recorded_site, recorded_dock, moment, moment, 1]
    else:
        seen[3] = min(seen[3], moment)
        seen[4] = max(seen[4], moment)
        seen[5] += 1


def _device_lines(decoded, kind, resolver):
    """(part index, device id, time, COPY line) for one kind of device; like _pack_lines, no queries in
    here. A reading is stored under the site its device was installed at, at the reading's time; from a
    gateway, only if that is the gateway's own site."""
    for part, dataset, dataset_index, _, records in decoded.devices[kind]:
        device_id = resolver.devices.get(dataset.device_id)
        for record_index, raw, record, moment, stamp in records:
            site_id = resolver.site_at(device_id, moment) if device_id else None
            if device_id is None:
                problem = f"{dataset.device_id!r} is not the id of any {kind}"
            elif part.site is not None and site_id != part.site.id:
                problem = (
                    f"{dataset.device_id!r} was not installed at {part.site.name} at {moment.isoformat()}"
                )
            elif site_id is None:
                problem = f"{dataset.device_id!r} was not installed on a site at {moment.isoformat()}"
            else:
                pv, batt, load = record.pv, record.batt, record.load
                numbers = (
                    f"{_array_columns(pv.volts, pv.amps)}\t{batt.volts!r}\t{batt.amps!r}\t"
                    f"{_array_columns(load.volts, load.amps)}"
                )
                if "e-" not in numbers or not (problem := _tiny_number(record, dataset_index, record_index)):
                    yield (
                        part.index,
                        device_id,
                        moment,
                        f"{stamp}\t{device_id}\t{site_id}\t{numbers}\t{part.batch_id}\n",
                    )
                    continue
                decoded.reject(part, dataset, dataset_index, record_index, raw, problem)
                continue
            decoded.reject(
                part,
                dataset,
                dataset_index,
                record_index,
                raw,
                f"datasets[{dataset_index}].{kind}.id: {problem}",
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
    newest, sent, received = {}, [], Counter()
    chunks = _chunks(rows, newest, sent, received)
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
    _copy(cursor, stage, column_list, ["".join(line for _, line in newest.values())])
    return received, received


def _chunks(rows, newest, sent, received):
    """COPY text of up to COPY_CHUNK_LINES ``rows`` each, also appended to ``sent``; counts in ``received``
    the rows of each part, and notes in ``newest`` the (time, line) of each entity's newest row."""
    rows = iter(rows)
    while chunk := list(islice(rows, COPY_CHUNK_LINES)):
        lines = []
        for part_index, entity, moment, line in chunk:
            lines.append(line)
            received[part_index] += 1
            seen = newest.get(entity)
            if seen is None or moment > seen[0]:
                newest[entity] = (moment, line)
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


def _upsert_discrepancies(cursor, discrepancies):
    rows = [(case, site, dock, *seen) for (case, site, dock), seen in discrepancies.items()]
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


@contextmanager
def _garbage_collector_paused():
    """Decoding a large payload allocates many objects that all survive; the collector would walk them again
    and again (measured: more time than the decoding itself). Nothing here makes reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def ingest_payload(*, raw, site=None, batch=None, quarantine=True):
    """Store one payload (the bytes of an envelope). Raises schemas.DecodeError for a bad envelope.

    ``site``: the sending gateway's site; PMS datasets of other sites are rejected, and so are MPPT /
    inverter readings of a device not installed at that site at the reading's time. ``batch``: the landing
    row, linked from readings and quarantined records. ``quarantine=False`` leaves rejections to the caller
    (the replay does).
    """
    part = _Part(
        index=0, envelope=schemas.decode_envelope(raw), site=site, batch_id=batch.id if batch else None
    )
    [result] = _ingest([part], quarantine=quarantine)
    return result


def _ingest(parts, *, quarantine):
    """Store the records of ``parts`` in one transaction, with one COPY per kind for all of them; returns
    an IngestResult per part. Parts without a batch are counted apart only when there is one part."""
    received, stored = Counter(), Counter()
    # psycopg's own cursor for COPY; its errors still surface as django.db errors.
    with (
        transaction.atomic(),
        _garbage_collector_paused(),
        connection.cursor() as django_cursor,
        connection.wrap_database_errors,
    ):
        cursor = django_cursor.cursor
        decoded = _decode(parts)
        if decoded.pms:
            discrepancies = {}
            resolver = PackResolver(
                {record.pack.id for *_, records in decoded.pms for _, _, record, _, _ in records}
            )
            lines = _pack_lines(decoded, resolver, discrepancies)
            _store(cursor, DatasetKind.PMS, lines, parts, received, stored)
            _upsert_discrepancies(cursor, discrepancies)
        for kind, items in decoded.devices.items():
            if items:
                resolver = DeviceResolver(kind, {dataset.device_id for _, dataset, *_ in items})
                _store(cursor, kind, _device_lines(decoded, kind, resolver), parts, received, stored)
        results = [
            IngestResult(
                stored=stored[part.index],
                duplicate=received[part.index] - stored[part.index],
                rejections=decoded.rejections[part.index],
                times=decoded.times[part.index],
            )
            for part in parts
        ]
        if quarantine:
            QuarantinedRecord.objects.bulk_create(
                QuarantinedRecord(batch_id=part.batch_id, **vars(rejection))
                for part, result in zip(parts, results, strict=True)
                for rejection in result.rejections
            )
    return results


def _store(cursor, kind, rows, parts, received, stored):
    """Store the readings and bring the latest state up to date with them; adds to the ``received`` and
    ``stored`` Counters by part index."""
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


LAND_SQL = f"""
INSERT INTO {IngestBatch._meta.db_table}
    (id, received_at, enqueued_at, source, site_id, token_id, payload, status, attempts, stored, duplicate,
     quarantined, error)
VALUES (%(id)s, now(), now(), %(source)s, %(site_id)s, %(token_id)s, %(payload)s, %(status)s, 0, 0, 0, 0, '')
"""


def batch_receive(*, raw, site_id=None, token_id=None, source=IngestBatch.Source.HTTP):
    """Land a payload durably and queue it for processing once the row is committed. Returns the batch id.

    This runs for every POST, so the row is one plain INSERT (the ORM's took four times the CPU), committed
    by itself: no BEGIN and COMMIT round trips. Inside a caller's transaction, the task is queued when that
    transaction commits. Queuing never waits for the broker (telemetry/queue.py)."""
    batch_id = uuid.uuid4()
    params = {"id": batch_id, "source": source, "site_id": site_id, "token_id": token_id, "payload": raw}
    with connection.cursor() as cursor:
        cursor.execute(LAND_SQL, {**params, "status": IngestBatch.Status.PENDING})
    transaction.on_commit(lambda: queue.batch_enqueue(batch_id), robust=True)
    return batch_id


# The database, not the data: the batch is tried again later. Any other DatabaseError, and a text psycopg
# cannot encode, is the data's: its batch is stored in parts, down to the records refused.
OPERATIONAL_ERRORS = (OperationalError, InterfaceError)
DATA_ERRORS = (DatabaseError, UnicodeError)

# The attempt is counted (and committed) before the work, so a batch that kills its worker still runs out
# of attempts: one started with all its attempts used is failed instead. A batch locked by another worker's
# transaction is that worker's.
BATCH_START_SQL = """
UPDATE telemetry_ingestbatch SET
    status = CASE WHEN attempts < %(max_attempts)s THEN 'processing' ELSE 'failed' END,
    attempts = LEAST(attempts + 1, %(max_attempts)s),
    started_at = now(),
    processed_at = CASE WHEN attempts < %(max_attempts)s THEN processed_at ELSE now() END,
    error = CASE WHEN attempts < %(max_attempts)s THEN error
        ELSE 'Gave up after ' || attempts || ' attempts; last error: '
            || COALESCE(NULLIF(error, ''), 'none, its worker stopped mid-way') END
WHERE id = (
    SELECT id FROM telemetry_ingestbatch
    WHERE id = %(id)s AND status IN ('pending', 'processing')
    FOR UPDATE SKIP LOCKED
)
RETURNING status
"""
BATCH_OUTCOME_SQL = """
UPDATE telemetry_ingestbatch AS batch
SET status = outcome.status, error = outcome.error, stored = outcome.stored, duplicate = outcome.duplicate,
    quarantined = outcome.quarantined, processed_at = now()
FROM unnest(%(ids)s::uuid[], %(statuses)s::text[], %(errors)s::text[], %(stored)s::int[],
            %(duplicate)s::int[], %(quarantined)s::int[])
    AS outcome (id, status, error, stored, duplicate, quarantined)
WHERE batch.id = outcome.id
"""


@dataclass(frozen=True)
class ProcessedBatch:
    batch: IngestBatch
    result: IngestResult


def batch_process(*, batch_id, companions=0):
    """Process one landed batch and, with it, up to ``companions`` other batches waiting in the queue: one
    transaction and one COPY per kind for them all, so that under a backlog the fixed costs of a batch are
    shared. Returns the batches stored, as ProcessedBatch: none if the batch is done already, failed, or
    being processed by another worker (which then owns it).

    One batch never takes another down: if the group fails, each batch is stored alone in a savepoint; one
    that the database still refuses is stored in halves, and halves of those, down to the records it refuses
    alone, which are quarantined with the database's message; any other error fails that batch alone, with
    its own message.

    An operational error (database unreachable, lock timeout) rolls everything back and raises, the batch
    pending again for a retry, or failed once its INGEST_MAX_ATTEMPTS attempts are used up (then nothing is
    raised). The companions stay pending, for the next task or the sweep.
    """
    with connection.cursor() as cursor:
        cursor.execute(BATCH_START_SQL, {"id": batch_id, "max_attempts": settings.INGEST_MAX_ATTEMPTS})
        started = cursor.fetchone()
    if started is None or started[0] != IngestBatch.Status.PROCESSING:
        return []
    try:
        return _batch_process_started(batch_id, companions)
    except OPERATIONAL_ERRORS as error:
        if _batch_release(batch_id, error):
            raise
        return []


def _batch_process_started(batch_id, companions):
    with transaction.atomic():
        locked = IngestBatch.objects.select_for_update(of=("self",)).select_related("site")
        batch = locked.get(id=batch_id)
        if batch.status != IngestBatch.Status.PROCESSING:
            return []  # finished by a worker that started it too, before this one got the lock
        waiting = locked.select_for_update(of=("self",), skip_locked=True).filter(
            status=IngestBatch.Status.PENDING, enqueued_at__isnull=False
        )
        batches = [batch, *waiting.exclude(id=batch_id).order_by("enqueued_at")[:companions]]
        # In order of arrival: of a reading sent twice, the copy that came first is the one stored (the
        # staging path inserts in the order the lines were sent).
        batches.sort(key=lambda batch: batch.received_at)
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [settings.INGEST_LOCK_TIMEOUT])
        try:
            with transaction.atomic():
                return _batches_ingest(batches)
        except OPERATIONAL_ERRORS:
            raise
        except Exception as error:
            group_error = error
        if len(batches) == 1:
            return _batch_ingest_alone(batch, failed_with=group_error)
        logger.warning(
            "A group of %d ingest batches failed together (%s); storing each alone",
            len(batches),
            _error_text(group_error),
        )
        return [processed for batch in batches for processed in _batch_ingest_alone(batch)]


def _batch_release(batch_id, error):
    """After an operational error: the batch back to pending for a retry (True), or failed once its attempts
    are used up (False). If the database cannot be told, the batch stays "processing" for the sweep."""
    message = _error_text(error)
    unfinished = IngestBatch.objects.filter(id=batch_id, status=IngestBatch.Status.PROCESSING)
    try:
        failed = unfinished.filter(attempts__gte=settings.INGEST_MAX_ATTEMPTS).update(
            status=IngestBatch.Status.FAILED, error=message, processed_at=timezone.now()
        )
        unfinished.update(status=IngestBatch.Status.PENDING, error=message, enqueued_at=timezone.now())
    except DatabaseError as update_error:
        logger.warning("Could not release ingest batch %s (%s)", batch_id, _error_text(update_error))
        return True
    return not failed


def _batch_ingest_alone(batch, *, failed_with=None):
    """Ingest one locked batch in a savepoint of its own (unless it ``failed_with`` an error alone already);
    if the database refuses its data, in ever smaller parts down to the records it refuses. Any other error
    fails it, with its own message."""
    error = failed_with
    if error is None:
        try:
            with transaction.atomic():
                return _batches_ingest([batch])
        except OPERATIONAL_ERRORS:
            raise
        except Exception as caught:
            error = caught
    if isinstance(error, DATA_ERRORS):
        try:
            with transaction.atomic():
                return _batch_ingest_refused(batch)
        except OPERATIONAL_ERRORS:
            raise
        except Exception as caught:
            error = caught
    logger.error("Ingest batch %s failed: %s", batch.id, _error_text(error), exc_info=error)
    batch.status, batch.error = IngestBatch.Status.FAILED, _error_text(error)
    batch.stored = batch.duplicate = batch.quarantined = 0
    _batches_save_outcome([batch])
    return []


def _batch_ingest_refused(batch):
    """Ingest a batch the database refused as a whole in halves, each in a savepoint, halving again what it
    refuses: the records it refuses alone are quarantined with its message, and all the others stored."""
    envelope = schemas.decode_envelope(bytes(batch.payload))
    places = [
        (dataset_index, record_index)
        for dataset_index, dataset in enumerate(envelope.datasets)
        for record_index in range(len(dataset.data))
    ]
    result = IngestResult()
    _ingest_halves(batch, envelope, places, result)
    batch.status, batch.error = IngestBatch.Status.DONE, ""
    batch.stored, batch.duplicate, batch.quarantined = result.stored, result.duplicate, result.quarantined
    _batches_save_outcome([batch])
    return [ProcessedBatch(batch, result)]


def _ingest_halves(batch, envelope, places, result):
    """Ingest the records at each half of ``places`` (in order, so the first copy of a repeated reading is
    the one stored); adds to ``result``."""
    middle = len(places) // 2
    for half in (places[:middle], places[middle:]):
        if not half:
            continue
        part = _Part(index=0, envelope=envelope, site=batch.site, batch_id=batch.id, only=tuple(half))
        try:
            with transaction.atomic():
                [half_result] = _ingest([part], quarantine=True)
        except OPERATIONAL_ERRORS:
            raise
        except DATA_ERRORS as error:
            if len(half) > 1:
                _ingest_halves(batch, envelope, half, result)
                continue
            [(dataset_index, record_index)] = half
            place = schemas.record_place(dataset_index, record_index)
            reason = f"{place}: refused by the database: {_error_text(error, with_class=False)}"
            dataset = envelope.datasets[dataset_index]
            rejection = _rejection(dataset, dataset_index, record_index, dataset.data[record_index], reason)
            QuarantinedRecord.objects.create(batch_id=batch.id, **vars(rejection))
            half_result = IngestResult(rejections=[rejection])
        result.add(half_result)


def _error_text(error, *, with_class=True):
    """The first line of an error's message (a database error's next lines are its context), storable."""
    message = _storable(str(error).partition("\n")[0])
    return f"{type(error).__name__}: {message}" if with_class else message


def _batches_ingest(batches):
    """Ingest the payloads of locked ``batches`` together and save their outcomes; a payload that is not an
    envelope fails its batch alone."""
    parts, decoded_batches = [], []
    for batch in batches:
        try:
            envelope = schemas.decode_envelope(bytes(batch.payload))
        except schemas.DecodeError as error:
            batch.status, batch.error = IngestBatch.Status.FAILED, str(error)
            continue
        parts.append(_Part(index=len(parts), envelope=envelope, site=batch.site, batch_id=batch.id))
        decoded_batches.append(batch)
    results = _ingest(parts, quarantine=True) if parts else []
    for batch, result in zip(decoded_batches, results, strict=True):
        batch.status, batch.error = IngestBatch.Status.DONE, ""
        batch.stored, batch.duplicate, batch.quarantined = result.stored, result.duplicate, result.quarantined
    _batches_save_outcome(batches)
    return [ProcessedBatch(batch, result) for batch, result in zip(decoded_batches, results, strict=True)]


def _batches_save_outcome(batches):
    with connection.cursor() as cursor:
        cursor.execute(
            BATCH_OUTCOME_SQL,
            {
                "ids": [batch.id for batch in batches],
                "statuses": [batch.status for batch in batches],
                "errors": [batch.error for batch in batches],
                "stored": [batch.stored for batch in batches],
                "duplicate": [batch.duplicate for batch in batches],
                "quarantined": [batch.quarantined for batch in batches],
            },
        )


def batches_requeue_stale():
    """Queue again the batches no worker is on: "processing" ones whose attempt was abandoned (its worker
    died, taking its transaction and row lock with it) INGEST_ABANDONED_AFTER after it started, and pending
    ones INGEST_SWEEP_AFTER after they were last queued (a message lost with a broker or a worker, or
    consumed while the batch was locked by a group that then failed). Returns how many.

    A row lock held means a live transaction is on the batch: SKIP LOCKED leaves those out. A task takes up
    to INGEST_BATCH_COMPANIONS pending batches with its own, so the pending ones get one message per that
    many plus one: under a backlog, when their messages are merely still queued, the sweep adds few."""
    now = timezone.now()
    abandoned = Q(status=IngestBatch.Status.PROCESSING) & (
        Q(started_at__lt=now - settings.INGEST_ABANDONED_AFTER) | Q(started_at__isnull=True)
    )
    unqueued = Q(status=IngestBatch.Status.PENDING) & (
        Q(enqueued_at__lt=now - settings.INGEST_SWEEP_AFTER) | Q(enqueued_at__isnull=True)
    )
    with transaction.atomic():
        stale = list(
            IngestBatch.objects.select_for_update(skip_locked=True)
            .filter(abandoned | unqueued)
            .order_by("received_at")
            .values_list("id", "status")[: settings.INGEST_SWEEP_LIMIT]
        )
        IngestBatch.objects.filter(id__in=[batch_id for batch_id, _ in stale]).update(enqueued_at=now)
        pending = [batch_id for batch_id, status in stale if status == IngestBatch.Status.PENDING]
        messages = [batch_id for batch_id, status in stale if status == IngestBatch.Status.PROCESSING]
        messages += pending[:: settings.INGEST_BATCH_COMPANIONS + 1]
        for batch_id in messages:
            transaction.on_commit(lambda batch_id=batch_id: queue.batch_enqueue(batch_id), robust=True)
    if stale:
        logger.warning(
            "Re-queued %d unprocessed ingest batches (%d abandoned) with %d messages",
            len(stale),
            len(stale) - len(pending),
            len(messages),
        )
    return len(stale)


def batch_retry(*, batch):
    """Give a failed batch a fresh set of attempts (admin action)."""
    IngestBatch.objects.filter(id=batch.id, status=IngestBatch.Status.FAILED).update(
        status=IngestBatch.Status.PENDING, attempts=0, enqueued_at=timezone.now()
    )
    transaction.on_commit(lambda: queue.batch_enqueue(batch.id), robust=True)


@dataclass
class ReplayResult:
    resolved: int = 0
    still_quarantined: int = 0


def quarantine_replay(*, records):
    """Run quarantined records through ingest again; those that now store (or are duplicates) are resolved,
    the others keep their place with the new reason."""
    outcome = ReplayResult()
    now = timezone.now()
    groups = {}
    for record in records:
        groups.setdefault((record.kind, record.device_id, record.batch_id), []).append(record)
    for (kind, device_id, _), group in groups.items():
        site = group[0].batch.site if group[0].batch_id else None
        records = [msgspec.Raw(record.record.encode()) for record in group]
        raw = msgspec.json.encode({"datasets": [{kind: {"id": device_id}, "data": records}]})
        with transaction.atomic():
            result = ingest_payload(raw=raw, site=site, quarantine=False)
            failures = {rejection.record_index: rejection.reason for rejection in result.rejections}
            for index, record in enumerate(group):
                record.replayed_at = now
                record.resolved = index not in failures
                if index in failures:
                    record.reason = _at_original_place(failures[index], index, record)
            QuarantinedRecord.objects.bulk_update(group, ["replayed_at", "resolved", "reason"])
        outcome.resolved += len(group) - len(failures)
        outcome.still_quarantined += len(failures)
    return outcome


def _at_original_place(reason, replay_index, record):
    """A replay's reason names the record's place in the replayed payload; name its original place."""
    for replayed, original in (
        (
            f"datasets[0].data[{replay_index}]",
            f"datasets[{record.dataset_index}].data[{record.record_index}]",
        ),
        ("datasets[0].", f"datasets[{record.dataset_index}]."),
    ):
        if reason.startswith(replayed):
            return original + reason[len(replayed) :]
    return reason


# --- Discrepancies -----------------------------------------------------------------------------------------


def discrepancies_resolve(*, discrepancies, user):
    """Mark the open ones of ``discrepancies`` (a queryset) resolved by ``user`` now. Returns how many."""
    return discrepancies.filter(status=Discrepancy.Status.OPEN).update(
        status=Discrepancy.Status.RESOLVED, resolved_by=user, resolved_at=timezone.now()
    )


def discrepancy_check_record(*, discrepancy, case, position):
    """Refuse (ValidationError on ``discrepancy``) unless installing ``case`` at ``position`` records what the
    open ``discrepancy`` saw: that case, in that dock of that site."""
    if discrepancy.status != Discrepancy.Status.OPEN:
        raise ValidationError({"discrepancy": "This discrepancy is resolved already; nothing to resolve."})
    location = location_of_position(position)
    recorded = (case.pk, location.site.pk if location.site else None, location.pms_dock)
    if recorded != (discrepancy.case_id, discrepancy.observed_site_id, discrepancy.observed_dock):
        raise ValidationError(
            {
                "discrepancy": f"This change does not record the discrepancy it was opened from: case "
                f"{discrepancy.case.serial} reported from {discrepancy.observed_site.pms_id} dock "
                f"{discrepancy.observed_dock}."
            }
        )


@transaction.atomic
def discrepancy_resolve_with(*, discrepancy, installation, user):
    """Resolve ``discrepancy`` by ``installation``: the install or swap that put its case where it was seen.
    Checked as ``discrepancy_check_record`` does, on the discrepancy as it is now."""
    discrepancy = (
        Discrepancy.objects.select_for_update(of=("self",))
        .select_related("case", "observed_site")
        .get(pk=discrepancy.pk)
    )
    discrepancy_check_record(
        discrepancy=discrepancy, case=installation.component, position=installation.position
    )
    discrepancy.status = Discrepancy.Status.RESOLVED
    discrepancy.resolved_by = user
    discrepancy.resolved_at = timezone.now()
    discrepancy.resolved_with = installation
    discrepancy.save(update_fields=["status", "resolved_by", "resolved_at", "resolved_with"])
    return discrepancy


@transaction.atomic
def discrepancy_resolve_by_install(
    *,
    discrepancy: Discrepancy,
    component: Component,
    position: Position,
    user: User | None,
    reason: str = "",
    note: str = "",
    at: datetime | None = None,
) -> Installation:
    """Install ``component`` (the discrepancy's case) at ``position``, the dock ``discrepancy`` saw it in, and
    resolve ``discrepancy`` with that installation: both or neither."""
    installation = component_install(
        component=component, position=position, user=user, reason=reason, note=note, at=at
    )
    discrepancy_resolve_with(discrepancy=discrepancy, installation=installation, user=user)
    return installation


@transaction.atomic
def discrepancy_resolve_by_swap(
    *,
    discrepancy: Discrepancy,
    position: Position,
    old_component: Component,
    new_component: Component,
    user: User | None,
    reason: str,
    old_component_status: str,
    note: str = "",
    at: datetime | None = None,
) -> Installation:
    """Swap ``new_component`` (the discrepancy's case) for ``old_component`` at ``position``, the dock
    ``discrepancy`` saw it in, as ``component_swap`` does, and resolve ``discrepancy`` with the new
    installation: both or neither."""
    installation = component_swap(
        position=position,
        old_component=old_component,
        new_component=new_component,
        user=user,
        reason=reason,
        old_component_status=old_component_status,
        note=note,
        at=at,
    )
    discrepancy_resolve_with(discrepancy=discrepancy, installation=installation, user=user)
    return installation
