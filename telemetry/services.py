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
from itertools import chain, islice

import msgspec
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError
from psycopg.copy import QueuedLibpqWriter
from psycopg.errors import UniqueViolation

from assets.selectors import location_of_position
from telemetry import schemas
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
    first: datetime | None = None  # the span of the valid records' times, for the rollups to refresh
    last: datetime | None = None

    @property
    def quarantined(self):
        return len(self.rejections)

    def add(self, other):
        self.stored += other.stored
        self.duplicate += other.duplicate
        self.rejections += other.rejections
        self.first, self.last = _span(self.first, self.last, other.first, other.last)


def _span(first, last, other_first, other_last):
    """The smallest span holding both, either of which may be empty (None, None)."""
    if first is None:
        return other_first, other_last
    if other_first is None:
        return first, last
    return min(first, other_first), max(last, other_last)


@dataclass(frozen=True)
class _Part:
    """One payload of an ingest: its envelope, the sending gateway's site (or None) and its landing row's id
    (or None). ``index`` is its place in the ingest."""

    index: int
    envelope: schemas.Envelope
    site: object
    batch_id: object


@dataclass
class _Decoded:
    """The records that passed validation, per kind, before identities are resolved; the rejections of each
    part."""

    parts: int
    pms: list = field(default_factory=list)
    devices: dict = field(default_factory=lambda: {DatasetKind.MPPT: [], DatasetKind.INVERTER: []})
    rejections: list = field(init=False)
    spans: list = field(init=False)  # (first, last) time of each part's valid records

    def __post_init__(self):
        self.rejections = [[] for _ in range(self.parts)]
        self.spans = [(None, None)] * self.parts

    def reject(self, part, dataset, dataset_index, record_index, raw, reason):
        self.rejections[part.index].append(
            Rejection(
                kind=dataset.kind,
                device_id=dataset.device_id,
                dataset_index=dataset_index,
                record_index=record_index,
                record=bytes(raw).decode("utf-8", "replace"),
                reason=reason,
            )
        )


def _decode(parts):
    decoded = _Decoded(len(parts))
    parse_time = schemas.TimeParser()
    pms_ids = {
        dataset.pms.id for part in parts for dataset in part.envelope.datasets if dataset.pms is not None
    }
    pms_sites = sites_by_pms_id(pms_ids)
    for part in parts:
        _decode_part(decoded, part, pms_sites, parse_time)
    return decoded


def _decode_part(decoded, part, pms_sites, parse_time):
    for dataset_index, dataset in enumerate(part.envelope.datasets):
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
                for record_index, raw in enumerate(dataset.data):
                    decoded.reject(part, dataset, dataset_index, record_index, raw, problem)
                continue
        is_pms = kind == DatasetKind.PMS
        decode_record = schemas.decode_pms_record if is_pms else schemas.decode_device_record
        records = []
        for record_index, raw in enumerate(dataset.data):
            try:
                record = decode_record(raw, dataset_index, record_index)
                moment, stamp = parse_time(record.time_local, dataset_index, record_index)
            except schemas.DecodeError as error:
                decoded.reject(part, dataset, dataset_index, record_index, raw, str(error))
                continue
            records.append((record_index, raw, record, moment, stamp))
        if records:
            moments = [moment for _, _, _, moment, _ in records]
            decoded.spans[part.index] = _span(*decoded.spans[part.index], min(moments), max(moments))
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
    here. A device not installed anywhere at the reading's time is filed under the sending gateway's site."""
    for part, dataset, dataset_index, _, records in decoded.devices[kind]:
        device_id = resolver.devices.get(dataset.device_id)
        for record_index, raw, record, moment, stamp in records:
            site_id = resolver.site_at(device_id, moment) if device_id else None
            if device_id is None:
                problem = f"{dataset.device_id!r} is not the id of any {kind}"
            elif site_id is None and part.site is None:
                problem = f"{dataset.device_id!r} was not installed on a site at {moment.isoformat()}"
            else:
                pv, batt, load = record.pv, record.batt, record.load
                yield (
                    part.index,
                    device_id,
                    moment,
                    f"{stamp}\t{device_id}\t{site_id or part.site.id}\t"
                    f"{_array_columns(pv.volts, pv.amps)}\t{batt.volts!r}\t{batt.amps!r}\t"
                    f"{_array_columns(load.volts, load.amps)}\t{part.batch_id}\n",
                )
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

    ``site``: the sending gateway's site; PMS datasets of other sites are rejected, and MPPT / inverter
    readings from a device not installed anywhere at that time are filed under it. ``batch``: the landing
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
                first=decoded.spans[part.index][0],
                last=decoded.spans[part.index][1],
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
    transaction commits."""
    from telemetry.tasks import process_batch

    batch_id = uuid.uuid4()
    params = {"id": batch_id, "source": source, "site_id": site_id, "token_id": token_id, "payload": raw}
    with connection.cursor() as cursor:
        cursor.execute(LAND_SQL, {**params, "status": IngestBatch.Status.PENDING})
    transaction.on_commit(lambda: _enqueue(process_batch, batch_id), robust=True)
    return batch_id


def _enqueue(task, batch_id):
    # No publish retries: if the broker is down the batch stays pending and the sweep queues it later.
    # argsrepr given, so Celery does not build one with saferepr for every message.
    task.apply_async(args=[str(batch_id)], argsrepr=f"('{batch_id}',)", retry=False)


BATCH_START_SQL = """
UPDATE telemetry_ingestbatch SET status = 'processing', attempts = attempts + 1
WHERE id = (
    SELECT id FROM telemetry_ingestbatch
    WHERE id = %(id)s AND status IN ('pending', 'processing')
    FOR UPDATE SKIP LOCKED
)
"""
BATCH_OUTCOME_SQL = """
UPDATE telemetry_ingestbatch AS batch
SET status = outcome.status, error = outcome.error, stored = outcome.stored, duplicate = outcome.duplicate,
    quarantined = outcome.quarantined, processed_at = %(processed_at)s
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

    Safe to run again: a done batch is left alone, and a failed attempt rolls back completely, leaving the
    batch pending (with the error) for a retry or the sweep. The companions of a failed attempt are queued
    again on their own, so one bad batch does not hold the others back.
    """
    with connection.cursor() as cursor:
        # The attempt is counted (and committed) before the work, so a batch that kills its worker still
        # runs out of attempts. A batch locked by another worker's transaction is that worker's.
        cursor.execute(BATCH_START_SQL, {"id": batch_id})
        started = cursor.rowcount
    if not started:
        return []
    companion_ids = []
    try:
        with transaction.atomic():
            locked = IngestBatch.objects.select_for_update(of=("self",)).select_related("site")
            batch = locked.get(id=batch_id)
            if batch.status == IngestBatch.Status.DONE:
                return []
            waiting = locked.select_for_update(of=("self",), skip_locked=True).filter(
                status=IngestBatch.Status.PENDING, enqueued_at__isnull=False
            )
            batches = [batch, *waiting.exclude(id=batch_id).order_by("enqueued_at")[:companions]]
            companion_ids = [companion.id for companion in batches[1:]]
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [settings.INGEST_LOCK_TIMEOUT])
            return _batches_ingest(batches)
    except DatabaseError as error:
        failed = IngestBatch.objects.filter(id=batch_id, attempts__gte=settings.INGEST_MAX_ATTEMPTS)
        failed.update(status=IngestBatch.Status.FAILED, error=str(error))
        IngestBatch.objects.filter(id=batch_id, status=IngestBatch.Status.PROCESSING).update(
            status=IngestBatch.Status.PENDING, error=str(error)
        )
        _requeue(companion_ids)
        raise


def _batches_ingest(batches):
    """Ingest the payloads of locked ``batches`` together; a payload that is not an envelope fails its batch
    alone."""
    parts, decoded_batches = [], []
    now = timezone.now()
    # In order of arrival: of a reading sent twice, the copy that came first is the one stored (the staging
    # path inserts in the order the lines were sent).
    for batch in sorted(batches, key=lambda batch: batch.received_at):
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
                "processed_at": now,
            },
        )
    return [ProcessedBatch(batch, result) for batch, result in zip(decoded_batches, results, strict=True)]


def _requeue(batch_ids):
    from telemetry.tasks import process_batch

    for batch_id in batch_ids:
        try:
            _enqueue(process_batch, batch_id)
        except KombuOperationalError:
            logger.warning("Could not queue batch %s again; the sweep will", batch_id)


def batches_requeue_stale(*, older_than=None):
    """Queue again the batches still unprocessed ``older_than`` after they were last queued."""
    from telemetry.tasks import process_batch

    older_than = older_than or settings.INGEST_SWEEP_AFTER
    cutoff = timezone.now() - older_than
    unprocessed = Q(status__in=[IngestBatch.Status.PENDING, IngestBatch.Status.PROCESSING])
    stale = Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True)
    with transaction.atomic():
        batch_ids = list(
            IngestBatch.objects.select_for_update(skip_locked=True)
            .filter(unprocessed & stale)
            .order_by("received_at")
            .values_list("id", flat=True)[: settings.INGEST_SWEEP_LIMIT]
        )
        IngestBatch.objects.filter(id__in=batch_ids).update(enqueued_at=timezone.now())
        for batch_id in batch_ids:
            transaction.on_commit(lambda batch_id=batch_id: _enqueue(process_batch, batch_id), robust=True)
    if batch_ids:
        logger.warning("Re-queued %d unprocessed ingest batches", len(batch_ids))
    return len(batch_ids)


def batch_retry(*, batch):
    """Give a failed batch a fresh set of attempts (admin action)."""
    from telemetry.tasks import process_batch

    IngestBatch.objects.filter(id=batch.id, status=IngestBatch.Status.FAILED).update(
        status=IngestBatch.Status.PENDING, attempts=0, enqueued_at=timezone.now()
    )
    transaction.on_commit(lambda: _enqueue(process_batch, batch.id), robust=True)


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
