"""The ingest core: store the records of one or more payloads in one transaction.

Decode each record (parts.py, with decode.py), resolve identities for all the payloads at once
(resolve.py), COPY the valid rows into the hypertables as lines.py formats them (copy.py: a re-sent sample
goes through a staging table and ``ON CONFLICT DO NOTHING`` instead, so it is counted as a duplicate, never
stored twice), upsert the latest state and the open discrepancies, and quarantine what could not be stored.
"""

import gc
from collections import Counter
from contextlib import contextmanager

from django.db import connection, transaction

from assets.models import Site
from telemetry.ingest import decode
from telemetry.ingest.copy import store_readings, upsert_discrepancies
from telemetry.ingest.lines import device_lines, pack_lines
from telemetry.ingest.parts import Part, decode_parts
from telemetry.ingest.resolve import DeviceResolver, PackResolver
from telemetry.ingest.results import IngestResult
from telemetry.models import DatasetKind, IngestBatch, QuarantinedRecord


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
            sightings = {}
            resolver = PackResolver(
                {valid.record.pack.id for group in decoded.pms for valid in group.records}
            )
            rows = pack_lines(decoded, resolver, sightings)
            store_readings(cursor, DatasetKind.PMS, rows, parts, received, stored)
            upsert_discrepancies(cursor, sightings)
        for kind, groups in decoded.devices.items():
            if groups:
                resolver = DeviceResolver(kind, {group.dataset.device_id for group in groups})
                rows = device_lines(decoded, kind, resolver)
                store_readings(cursor, kind, rows, parts, received, stored)
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
