"""Processing landed batches: one batch with the batches waiting behind it, in one transaction, and the
isolation that keeps one bad batch from taking the others down (each alone, then in halves down to the
records the database refuses)."""

import logging
import uuid
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from telemetry.ingest import decode
from telemetry.ingest.core import ingest_parts
from telemetry.ingest.parts import Part, RecordPlace
from telemetry.ingest.results import IngestResult, rejection, storable
from telemetry.models import IngestBatch, QuarantinedRecord

logger = logging.getLogger(__name__)

# The database, not the data: the batch is tried again later. Any other DatabaseError, and a text psycopg
# cannot encode, is the data's: its batch is stored in parts, down to the records refused.
OPERATIONAL_ERRORS = (OperationalError, InterfaceError)
DATA_ERRORS = (DatabaseError, UnicodeError)


@dataclass(frozen=True)
class ProcessedBatch:
    batch: IngestBatch
    result: IngestResult


def batch_process(*, batch_id: uuid.UUID | str, companions: int = 0) -> list[ProcessedBatch]:
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
        locked = IngestBatch.objects.select_for_update(of=("self",)).select_related("site").defer("payload")
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
        _payloads_load(batches)
        # The commit does not wait for the WAL to reach the disk: the stored readings and the batch's outcome
        # are one transaction, so a crash of PostgreSQL that loses it loses both, and the batch, left
        # "processing", is stored again by the sweep. The raw body's landing is a synchronous commit, before
        # the 202. Waiting for the flush here only queued the POSTs' own commits behind the worker's.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true), set_config('synchronous_commit', 'off', true)",
                [settings.INGEST_LOCK_TIMEOUT],
            )
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


def _payloads_load(batches):
    """Set the landed body of each of ``batches``, read in binary: as text, PostgreSQL would write it out in
    hex for Python to read back (measured on an 11 MB body: 14 ms in binary, 71 as text)."""
    # Django's cursors bind on the client, which has no binary results: a plain psycopg cursor does. Not
    # prepared, as PgBouncer's transaction mode would not keep a prepared statement (DATABASE_POOL).
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor, connection.wrap_database_errors:
        payloads = dict(
            cursor.execute(
                "SELECT id, payload FROM telemetry_ingestbatch WHERE id = ANY(%s)",
                [[batch.id for batch in batches]],
                binary=True,
                prepare=False,
            ).fetchall()
        )
    for batch in batches:
        batch.payload = payloads[batch.id]


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
    envelope = decode.decode_envelope(bytes(batch.payload), keys_checked=_keys_checked(batch))
    places = [
        RecordPlace(dataset_index, record_index)
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
        part = Part(index=0, envelope=envelope, site=batch.site, batch_id=batch.id, only=tuple(half))
        try:
            with transaction.atomic():
                [half_result] = ingest_parts([part], quarantine=True)
        except OPERATIONAL_ERRORS:
            raise
        except DATA_ERRORS as error:
            if len(half) > 1:
                _ingest_halves(batch, envelope, half, result)
                continue
            [(dataset_index, record_index)] = half
            place = decode.record_place(dataset_index, record_index)
            reason = f"{place}: refused by the database: {_error_text(error, with_class=False)}"
            dataset = envelope.datasets[dataset_index]
            refused = rejection(dataset, dataset_index, record_index, dataset.data[record_index], reason)
            QuarantinedRecord.objects.create(batch_id=batch.id, **vars(refused))
            half_result = IngestResult(rejections=[refused])
        result.add(half_result)


def _error_text(error, *, with_class=True):
    """The first line of an error's message (a database error's next lines are its context), storable."""
    message = storable(str(error).partition("\n")[0])
    return f"{type(error).__name__}: {message}" if with_class else message


def _batches_ingest(batches):
    """Ingest the payloads of locked ``batches`` together and save their outcomes; a payload that is not an
    envelope fails its batch alone."""
    parts, decoded_batches = [], []
    for batch in batches:
        try:
            envelope = decode.decode_envelope(bytes(batch.payload), keys_checked=_keys_checked(batch))
        except decode.DecodeError as error:
            batch.status, batch.error = IngestBatch.Status.FAILED, str(error)
            continue
        parts.append(Part(index=len(parts), envelope=envelope, site=batch.site, batch_id=batch.id))
        decoded_batches.append(batch)
    results = ingest_parts(parts, quarantine=True) if parts else []
    for batch, result in zip(decoded_batches, results, strict=True):
        batch.status, batch.error = IngestBatch.Status.DONE, ""
        batch.stored, batch.duplicate, batch.quarantined = result.stored, result.duplicate, result.quarantined
    _batches_save_outcome(batches)
    return [ProcessedBatch(batch, result) for batch, result in zip(decoded_batches, results, strict=True)]


def _keys_checked(batch):
    """Whether the body of ``batch`` was checked for repeated keys when it landed: the endpoint refuses a body
    with any; ``ingest_file`` lands lines unchecked."""
    return batch.source == IngestBatch.Source.HTTP


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
