"""Pipeline throughput: pack rows through the whole ingest path (decode, validate, resolve, COPY through a
staging table, latest state) against a plain text COPY of the very same rows into the same table."""

import io
import math
import time
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from bench import Figure
from bench.fixtures import bench_site, simulated_payloads
from bench.processes import cpu_seconds
from telemetry.models import PackReading
from telemetry.services import ingest_payload

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

    backend = [_backend_pid()]
    began, python_began, backend_began = time.perf_counter(), time.process_time(), cpu_seconds(backend)
    stored = sum(ingest_payload(raw=raw, site=site).stored for raw in payloads)
    pipeline_seconds = time.perf_counter() - began
    python_seconds, backend_seconds = time.process_time() - python_began, cpu_seconds(backend) - backend_began

    text = io.BytesIO()
    with connection.cursor() as cursor:
        # COPY of a hypertable itself would export its (empty) parent table, not its chunks.
        with cursor.copy(f"COPY (SELECT * FROM {TABLE}) TO STDOUT") as copy:
            for block in copy:
                text.write(block)
        cursor.execute(f"TRUNCATE {TABLE}")
        began = time.perf_counter()
        with cursor.copy(f"COPY {TABLE} FROM STDIN") as copy:
            copy.write(text.getvalue())
        copy_seconds = time.perf_counter() - began
        cursor.execute(f"SELECT count(*) FROM {TABLE}")
        [copied] = cursor.fetchone()
    if copied != stored or stored != samples * PACKS:
        raise RuntimeError(f"Expected {samples * PACKS} rows; the pipeline stored {stored}, COPY {copied}.")

    pipeline_rate, copy_rate = stored / pipeline_seconds, copied / copy_seconds
    return [
        Figure("pack rows", stored, "rows"),
        Figure("ingest pipeline (ingest_payload)", pipeline_rate, "rows/s"),
        Figure("raw text COPY, same rows, same table", copy_rate, "rows/s"),
        Figure("pipeline / raw COPY", pipeline_rate / copy_rate, "", ">= 0.7"),
        # CPU rather than time: less at the mercy of what else the machine runs.
        Figure("pipeline's Python CPU per 1,000 rows", python_seconds / stored * 1e6, "ms"),
        Figure("its PostgreSQL backend's CPU per 1,000 rows", backend_seconds / stored * 1e6, "ms"),
    ]


def _backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
