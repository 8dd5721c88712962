"""Re-attribution after a late change: 30 days of one acquisition board's 5-second readings (518,400 rows),
stored under the case the records then gave, follow the board to another case once a backdated move is
recorded. A real Celery worker (concurrency 1) does the re-attribution while this process keeps ingesting
another site's samples; the ingest rate meanwhile is compared with its rate just before, same process, same
payloads."""

import os
import sys
import time
import zoneinfo
from datetime import timedelta

import msgspec
from django.db import connection, transaction
from django.utils import timezone

from assets import services
from assets.models import Component, Kind
from bench import Figure
from bench.fixtures import bench_site
from bench.http_ingest import start_process
from pms_site.celery import app as celery_app
from telemetry.models import Discrepancy, PackReading, Reattribution
from telemetry.services import ingest_payload
from telemetry.simulation import Simulator, format_time_local, site_layout

DAYS = 30
STEP = timedelta(seconds=5)
SAMPLES_PER_PAYLOAD = 60  # of 48 packs: 2,880 rows a payload
BASELINE_SECONDS = 20
TIMEOUT_SECONDS = 900
MOVE_PMS_ID = "PMS-BENCH-MOVE"

BOARD_READINGS_SQL = """
INSERT INTO telemetry_packreading (time, utc_offset_minutes, case_id, site_id, dock, volts, amps, temps,
    cell_volts, open_cells, fet_open, fet_temps, board_id)
SELECT moment, 420, %(case)s, %(site)s, %(dock)s, 53.2, -1.5, '{30.5,31,32}',
    array_fill(3.8::real, ARRAY[14]), '{}', '{}', '{35,36}', %(board)s
FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '5 seconds',
    interval '5 seconds') AS moment
"""


class Ingest:
    """Samples of every pack of ``site``, each at its own instant from ``first`` on, ingested back to back."""

    def __init__(self, site, first):
        layout = site_layout(site, first)
        self.site, self.next, self.tz = site, first, zoneinfo.ZoneInfo(layout.time_zone)
        sample = Simulator([layout], swap_at=None).payload(layout, [first])
        self.template = msgspec.json.encode(sample["datasets"][0])
        self.placeholder = format_time_local(first, self.tz).encode()

    def payload(self):
        datasets = []
        for _ in range(SAMPLES_PER_PAYLOAD):
            moment = format_time_local(self.next, self.tz).encode()
            datasets.append(self.template.replace(self.placeholder, moment))
            self.next += STEP
        return b'{"datasets":[' + b",".join(datasets) + b"]}"

    def run(self, *, seconds=None, until=None):
        """Ingest for ``seconds``, or until ``until()`` is true; returns (rows stored, seconds)."""
        rows, began = 0, time.monotonic()
        while True:
            result = ingest_payload(raw=self.payload(), site=self.site)
            if result.quarantined:  # e.g. sample times run past now: the rate would be the quarantine's
                raise RuntimeError(f"Ingest quarantined {result.quarantined} rows: {result.rejections[0]}")
            rows += result.stored
            elapsed = time.monotonic() - began
            if (seconds is not None and elapsed >= seconds) or (until is not None and until()):
                return rows, elapsed


def _all_done():
    return not Reattribution.objects.filter(status=Reattribution.Status.RUNNING).exists()


def run(options):
    now = timezone.now().replace(microsecond=0)
    start = now - timedelta(days=DAYS)
    installed = start - timedelta(days=1)
    site = bench_site(pms_id=MOVE_PMS_ID, cabinets=1, at=installed)
    load_site = bench_site(pms_id="PMS-BENCH-LOAD", cabinets=4, at=installed)
    # bench_site's case serials: C-<PMS id>-<cabinet>-<dock>
    case_a, case_b = (
        Component.objects.get(kind=Kind.CASE, serial=f"C-{MOVE_PMS_ID}-1-{dock:02d}") for dock in (1, 2)
    )
    [board] = services.components_receive(kind=Kind.ACQ_BOARD, serials=["AB-BENCH-MOVE"], user=None)
    services.component_install(
        component=board,
        position=services.child_position_get(parent=case_a, kind=Kind.ACQ_BOARD),
        user=None,
        at=installed,
    )
    # The board really sat in case B (dock 2) all along; its readings went to case A, as the records said.
    with connection.cursor() as cursor:
        window = {
            "case": case_a.pk,
            "site": site.pk,
            "dock": 2,
            "board": board.pk,
            "start": start,
            "end": now,
        }
        cursor.execute(BOARD_READINGS_SQL, window)
        rows = cursor.rowcount
    Discrepancy.objects.create(
        case=case_a, kind=Discrepancy.Kind.OTHER_DOCK, observed_site=site, observed_dock=2,
        recorded_site=site, recorded_dock=1, first_seen=start, last_seen=now - STEP, sample_count=rows,
    )  # fmt: skip
    print(f"  {rows:,} readings of board {board.serial} over {DAYS} days, stored under case {case_a.serial}")

    celery_app.connection_for_write().default_channel.client.flushdb()
    hostname = f"bench-reattribution-{os.getpid()}@localhost"
    worker = start_process(
        "worker",
        [sys.executable, "-m", "celery", "-A", "pms_site", "worker", "--concurrency", "1",
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--hostname", hostname],
    )  # fmt: skip
    try:
        _wait_for_worker(hostname, worker)
        # A payload is 5 minutes of samples, some 25 payloads a second: 20 days leave room for minutes of it.
        ingest = Ingest(load_site, first=now - timedelta(days=20))
        ingest.run(seconds=2)  # warm-up: caches, the chunk being written
        baseline_rows, baseline_seconds = ingest.run(seconds=BASELINE_SECONDS)
        began = time.monotonic()
        with transaction.atomic():
            services.component_remove(component=board, user=None, reason="moved (recorded late)", at=start)
            services.component_install(
                component=board,
                position=services.child_position_get(parent=case_b, kind=Kind.ACQ_BOARD),
                user=None,
                at=start,
            )
        during_rows, during_seconds = ingest.run(
            until=lambda: _all_done() or time.monotonic() - began > TIMEOUT_SECONDS
        )
        reattribution_seconds = time.monotonic() - began
    finally:
        worker.terminate()
        worker.wait(timeout=60)

    moved = PackReading.objects.filter(case=case_b, board=board).count()
    if not _all_done() or moved != rows or PackReading.objects.filter(case=case_a).exists():
        raise RuntimeError(f"Expected {rows} readings moved to case {case_b.serial}; {moved} were.")
    baseline_rate, during_rate = baseline_rows / baseline_seconds, during_rows / during_seconds
    return [
        Figure("readings re-attributed", moved, "rows"),
        Figure("time to re-attribute (queue to done)", reattribution_seconds, "s"),
        Figure("re-attribution rate", moved / reattribution_seconds, "rows/s"),
        Figure("ingest alone (ingest_payload loop)", baseline_rate, "rows/s"),
        Figure("ingest during the re-attribution", during_rate, "rows/s"),
        Figure("ingest during / alone", during_rate / baseline_rate, ""),
    ]


def _wait_for_worker(hostname, worker, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError("The Celery worker exited early; see var/log/bench-worker.log")
        if celery_app.control.ping(destination=[hostname], timeout=0.5):
            return
    raise RuntimeError(f"The Celery worker did not answer within {timeout} s")
