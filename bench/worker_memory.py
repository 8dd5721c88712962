"""One Celery worker (prefork, concurrency 1) draining landed one-sample batches of a 48-pack site, as
gateways post them, up to `--worker-rows` pack rows (1 M): its memory (RSS of the worker and its child)
after 100 k rows and at the end; the CPU per 1,000 rows stored, in the worker and in the PostgreSQL backends
serving it (from /proc, while it drains; the WAL writer and checkpoints are not counted); the bytes per row on
disk and in the WAL (the whole cluster's WAL: run it on a quiet cluster)."""

import os
import sys
import time
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from bench import Figure
from bench.fixtures import bench_site
from bench.http_ingest import DRAIN_TIMEOUT, _gateway, start_process
from bench.processes import cpu_seconds, process_tree, rss_mb
from pms_site.celery import app as celery_app
from telemetry.ingest.landing import batch_receive
from telemetry.models import IngestBatch, PackReading
from telemetry.simulation import format_time_local

PACKS = 48
FIRST_STEP_ROWS = 100_000


def _worker_backends():
    """The PostgreSQL backends of this database other than ours: the worker's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]


def _wal_position():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        return cursor.fetchone()[0]


def _wal_bytes_since(position):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", [position])
        return float(cursor.fetchone()[0])


def _stored_bytes():
    """The pack readings' table and indexes on disk (every chunk), and the landed batches'."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT hypertable_size(%s), pg_total_relation_size(%s)",
            [PackReading._meta.db_table, IngestBatch._meta.db_table],
        )
        return cursor.fetchone()


def _land(gateway, site, first_sample, start, count):
    for number in range(start, start + count):
        at = format_time_local(first_sample + timedelta(seconds=5 * number), gateway.tz).encode()
        batch_receive(raw=gateway.template.replace(gateway.placeholder, at), site_id=site.pk)


def _drain(total):
    deadline = time.monotonic() + DRAIN_TIMEOUT * 4
    while time.monotonic() < deadline:
        if IngestBatch.objects.filter(status=IngestBatch.Status.DONE).count() >= total:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the worker did not store {total} batches in time")


def run(options):
    now = timezone.now().replace(microsecond=0)
    samples = options.worker_rows // PACKS
    first_step = min(samples, FIRST_STEP_ROWS // PACKS)
    first_sample = now - timedelta(seconds=5 * samples)
    site = bench_site(pms_id="PMS-BENCH-WORKER", cabinets=PACKS // 12, at=first_sample - timedelta(days=1))
    gateway = _gateway(site, now)

    celery_app.connection_for_write().default_channel.client.flushdb()
    worker = start_process(
        "worker-memory",
        [sys.executable, "-m", "celery", "-A", "pms_site", "worker", "--concurrency", "1",
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
         "--hostname", f"bench-memory-{os.getpid()}@localhost"],
    )  # fmt: skip
    try:
        time.sleep(5)  # the worker has loaded Django
        rss_start = rss_mb(process_tree(worker.pid))
        _land(gateway, site, first_sample, 0, first_step)
        _drain(first_step)
        rss_first = rss_mb(process_tree(worker.pid))
        pids, backends = process_tree(worker.pid), _worker_backends()
        cpu_worker, cpu_postgres = cpu_seconds(pids), cpu_seconds(backends)
        wal = _wal_position()
        began = time.monotonic()
        _land(gateway, site, first_sample, first_step, samples - first_step)
        _drain(samples)
        elapsed = time.monotonic() - began
        wal_bytes = _wal_bytes_since(wal)
        cpu_worker = cpu_seconds(process_tree(worker.pid)) - cpu_worker
        cpu_postgres = cpu_seconds(backends) - cpu_postgres
        rss_end = rss_mb(process_tree(worker.pid))
    finally:
        worker.terminate()
        worker.wait(timeout=60)

    stored = PackReading.objects.filter(site=site).count()
    if stored != samples * PACKS:
        raise RuntimeError(f"{samples * PACKS} rows sent, {stored} stored")
    later_rows = (samples - first_step) * PACKS / 1000
    readings_bytes, batches_bytes = _stored_bytes()
    return [
        Figure("pack rows stored (= rows sent)", stored, "rows"),
        Figure("worker RSS after start", rss_start, "MB"),
        Figure(f"worker RSS after {first_step * PACKS:,} rows", rss_first, "MB"),
        Figure(f"worker RSS after {stored:,} rows", rss_end, "MB"),
        Figure("RSS at the end / after the first rows", rss_end / rss_first, "", "< 1.2"),
        Figure("worker CPU per 1,000 rows (landing and drain overlap)", cpu_worker * 1000 / later_rows, "ms"),
        Figure("PostgreSQL backends' CPU per 1,000 rows", cpu_postgres * 1000 / later_rows, "ms"),
        Figure("rows stored per second (landing and drain overlap)", later_rows * 1000 / elapsed, "rows/s"),
        Figure("pack reading on disk, with its indexes", readings_bytes / stored, "B/row"),
        Figure("landed payload on disk (kept 7 days)", batches_bytes / stored, "B/row"),
        Figure("WAL written per row (landing and storing)", wal_bytes / (later_rows * 1000), "B/row"),
    ]
