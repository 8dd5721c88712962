"""Pipeline throughput: pack rows through the worker's whole path for a landed batch (``batch_process``: read
the body, decode, validate, resolve, COPY, latest state, the batch's outcome) against a plain text COPY of
the very same rows into the same table. The bodies are landed first, untimed, as the endpoint lands them
(the web process's part, measured by `bench http`)."""

import io
import math
import time
import uuid
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from bench import Figure
from bench.fixtures import bench_site, simulated_payloads
from bench.processes import cpu_seconds
from telemetry.ingest.landing import LAND_SQL
from telemetry.models import IngestBatch, PackReading
from telemetry.services import batch_process

PACKS = 48
TABLE = PackReading._meta.db_table


def run(options):
    samples = math.ceil(options.rows / PACKS)
    end = timezone.now().replace(microsecond=0)
    start = end - timedelta(seconds=5 * samples)
    site = bench_site(pms_id="PMS-BENCH-PIPE", cabinets=PACKS // 12, at=start - timedelta(days=1))
    payloads = simulated_payloads(site, start=start, end=end)
    megabytes = sum(map(len, payloads)) / 1e6
    print(f"  {len(payloads)} payloads of up to 720 samples x {PACKS} packs, {megabytes:.0f} MB of JSON")

    batch_ids = [_land(raw, site) for raw in payloads]
    backend = [_backend_pid()]
    began, python_began, backend_began = time.perf_counter(), time.process_time(), cpu_seconds(backend)
    stored = sum(
        processed.result.stored for batch_id in batch_ids for processed in batch_process(batch_id=batch_id)
    )
    pipeline_seconds = time.perf_counter() - began
    python_seconds, backend_seconds = time.process_time() - python_began, cpu_seconds(backend) - backend_began

    text = io.BytesIO()
    with connection.cursor() as cursor:
        # COPY of a hypertable itself would export its (empty) parent table, not its chunks.
        with cursor.copy(f"COPY (SELECT * FROM {TABLE}) TO STDOUT") as copy:
            for block in copy:
                text.write(block)
        cursor.execute(f"TRUNCATE {TABLE}")
        began, backend_began = time.perf_counter(), cpu_seconds(backend)
        with cursor.copy(f"COPY {TABLE} FROM STDIN") as copy:
            copy.write(text.getvalue())
        copy_seconds, copy_backend_seconds = time.perf_counter() - began, cpu_seconds(backend) - backend_began
        cursor.execute(f"SELECT count(*) FROM {TABLE}")
        [copied] = cursor.fetchone()
    if copied != stored or stored != samples * PACKS:
        raise RuntimeError(f"Expected {samples * PACKS} rows; the pipeline stored {stored}, COPY {copied}.")

    pipeline_rate, copy_rate = stored / pipeline_seconds, copied / copy_seconds
    return [
        Figure("pack rows", stored, "rows"),
        Figure("ingest pipeline (batch_process)", pipeline_rate, "rows/s"),
        Figure("raw text COPY, same rows, same table", copy_rate, "rows/s"),
        Figure("pipeline / raw COPY", pipeline_rate / copy_rate, "", ">= 0.7"),
        # CPU rather than time: less at the mercy of what else the machine runs.
        Figure("pipeline's Python CPU per 1,000 rows", python_seconds / stored * 1e6, "ms"),
        Figure("its PostgreSQL backend's CPU per 1,000 rows", backend_seconds / stored * 1e6, "ms"),
        Figure("the raw COPY's backend CPU per 1,000 rows", copy_backend_seconds / copied * 1e6, "ms"),
    ]


def _land(raw, site):
    """The endpoint's landing of a body (telemetry/ingest/landing.py), without queuing it: no worker here."""
    batch_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            LAND_SQL,
            {"id": batch_id, "source": IngestBatch.Source.HTTP, "site_id": site.pk, "token_id": None,
             "payload": raw, "status": IngestBatch.Status.PENDING},
        )  # fmt: skip
    return batch_id


def _backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
