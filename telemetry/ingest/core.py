"""The ingest core: store the records of one or more payloads in one transaction.

Decode each record (parts.py, with decode.py), resolve identities for all the payloads at once
(resolve.py), COPY the valid rows into the hypertables as lines.py formats them (copy.py: a re-sent sample
goes through a staging table and ``ON CONFLICT DO NOTHING`` instead, so it is counted as a duplicate, never
stored twice), upsert the latest state and the open discrepancies, note the minutes beat's rollup refresh has
passed (rollups.py ``late_minutes``), and quarantine what could not be stored.
"""

import gc
from collections import Counter
from contextlib import contextmanager

from django.db import connection, transaction

from assets.models import Site
from telemetry.ingest import decode
from telemetry.ingest.copy import store_readings, upsert_discrepancies
from telemetry.ingest.lines import Sent, device_lines, pack_chunks, pms_records, row_chunks
from telemetry.ingest.parts import Part, decode_parts
from telemetry.ingest.resolve import DeviceResolver, PackResolver
from telemetry.ingest.results import IngestResult
from telemetry.models import DatasetKind, IngestBatch, QuarantinedRecord
from telemetry.rollups import late_minutes, late_minutes_note


def ingest_payload(
    *, raw: bytes, site: Site | None = None, batch: IngestBatch | None = None, quarantine: bool = True
) -> IngestResult:
    """Store one payload (the bytes of an envelope). Raises decode.DecodeError for a bad envelope.

    ``site``: the sending gateway's site; PMS datasets of other sites are rejected, and so are MPPT /
    inverter readings of a device not installed at that site at the reading's time. ``batch``: the landing
    row, linked from readings and quarantined records. ``quarantine=False`` leaves rejections to the caller
    (the replay does).
    """
    part = Part(
        index=0, envelope=decode.decode_envelope(raw), site=site, batch_id=batch.id if batch else None
    )
    [result] = ingest_parts([part], quarantine=quarantine)
    return result


def ingest_parts(parts, *, quarantine):
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
        decoded = decode_parts(parts)
        if decoded.pms:
            _store_packs(cursor, decoded, parts, received, stored)
        for kind, groups in decoded.devices.items():
            if groups:
                resolver, sent = DeviceResolver(kind, {group.dataset.device_id for group in groups}), Sent()
                chunks = row_chunks(device_lines(decoded, kind, resolver), sent)
                store_readings(cursor, kind, chunks, sent, parts, received, stored)
        results = [
            IngestResult(
                stored=stored[part.index],
                duplicate=received[part.index] - stored[part.index],
                rejections=decoded.rejections[part.index],
                times=decoded.times[part.index],
                late_minutes=late_minutes(times=decoded.times[part.index]) if stored[part.index] else set(),
            )
            for part in parts
        ]
        late = set().union(*(result.late_minutes for result in results))
        if late:
            late_minutes_note(minutes=late)
        if quarantine:
            QuarantinedRecord.objects.bulk_create(
                QuarantinedRecord(batch_id=part.batch_id, **vars(rejection))
                for part, result in zip(parts, results, strict=True)
                for rejection in result.rejections
            )
    return results


def _store_packs(cursor, decoded, parts, received, stored):
    """The pack rows in one COPY with the packs the resolver's cache holds, then, if any, in a second one
    with those it had to load for the records the first one deferred: a gateway's packs are in the cache
    after its first payload, so finding its pack ids before the COPY (a pass over every record) is spared."""
    resolver, deferred, sightings = PackResolver(), [], {}
    for records in (pms_records(decoded), deferred):
        if records is deferred:
            if not deferred:
                break
            resolver.load({record.pack.id for _, _, _, record, _, _ in deferred})
        seen, sent = {}, Sent()
        chunks = pack_chunks(
            decoded, iter(records), resolver, seen, sent, None if records is deferred else deferred
        )
        store_readings(cursor, DatasetKind.PMS, chunks, sent, parts, received, stored, seen)
        for key, sighting in seen.items():  # each COPY keeps the times of its own readings stored
            if key in sightings:
                sightings[key].moments += sighting.moments
            else:
                sightings[key] = sighting
    upsert_discrepancies(cursor, sightings)


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
