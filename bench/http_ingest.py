"""HTTP ingest: gunicorn and a Celery worker on loopback, several gateways (a site each) posting 48-pack
samples over keep-alive connections for a bounded time; POST/s, latency, and a check that every row sent was
stored once the worker drained.

Then the tail: 80 % of the sustained rate just measured, offered open loop (on a fixed schedule, whatever the
answers), with latencies from each request's scheduled send time and the worker's backlog along the way."""

import collections
import http.client
import itertools
import os
import runpy
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import msgspec
import psycopg
from django.conf import settings
from django.db import connection as database_connection
from django.utils import timezone

from bench import Figure
from bench.bare_wsgi import BARE_TABLE
from bench.fixtures import bench_site
from bench.processes import cpu_seconds, postgres_cpu_seconds, process_tree
from pms_site.celery import app as celery_app
from telemetry.models import IngestBatch, PackReading
from telemetry.services import gateway_token_create
from telemetry.simulation import Simulator, format_time_local, site_layout

PACKS = 48
# The Celery workers `make run` starts (scripts/run.sh): one for ingest with a pool of half the cores, and one
# at a lower CPU priority for the upkeep (here, the rollups of the benchmark's readings, all later than beat's
# margin). Each is (name, queues, nice, pool).
WORKERS = [
    ("worker-ingest", "ingest", 0, ((os.cpu_count() or 1) + 1) // 2),
    ("worker", "alarms,rollups,celery", 10, 2),
]
WARM_UP_SECONDS = 3
DRAIN_TIMEOUT = 600
OPEN_LOOP_FRACTION = 0.8  # of the closed loop's end-to-end rate
OPEN_LOOP_CONNECTIONS = 64  # at most this many requests in flight; later ones wait their turn, and it counts
BACKLOG_INTERVAL = 10  # seconds between samples of the worker's backlog
INGEST_PATH = "/api/v1/ingest/"
LOG_DIR = Path(settings.VAR_DIR) / "log"
GUNICORN_CONFIG = Path(settings.BASE_DIR) / "pms_site" / "gunicorn.conf.py"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_process(name, command, **env):
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOG_DIR / f"bench-{name}.log", "w") as log:
        return subprocess.Popen(
            command,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _gunicorn(app, port):
    return [
        sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
        "--config", str(GUNICORN_CONFIG),
    ]  # fmt: skip


def _celery_worker(name, queues, nice, pool):
    return [
        "nice", "-n", str(nice), sys.executable, "-m", "celery", "-A", "pms_site", "worker", "-Q", queues,
        "--concurrency", str(pool), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
        "--hostname", f"bench-{name}-{os.getpid()}@localhost",
    ]  # fmt: skip


def _workers_text():
    return ", ".join(
        f"{queues} (pool {pool}{f', nice {nice}' if nice else ''})" for _, queues, nice, pool in WORKERS
    )


def _wait_for_port(port, server, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited early; see the bench-*.log files in {LOG_DIR}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not listen on port {port} within {timeout} s")


@dataclass(frozen=True)
class Gateway:
    """One site's gateway: its token, and a sample of its 48 packs whose time is ``placeholder``."""

    token: str
    template: bytes
    placeholder: bytes
    tz: zoneinfo.ZoneInfo

    @property
    def headers(self):
        return {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}


def _gateway(site, now):
    _, token = gateway_token_create(site=site, name="benchmark")
    layout = site_layout(site, now)
    tz = zoneinfo.ZoneInfo(layout.time_zone)
    template = msgspec.json.encode(Simulator([layout], swap_at=None).payload(layout, [now]))
    return Gateway(token, template, format_time_local(now, tz).encode(), tz)


class Load:
    """One client per gateway, posting one sample each time. Each gateway keeps its own clock, a sample every
    5 s as the spec has it, so nothing is a duplicate. (One clock for all gateways made the readings' time
    run 8 times as fast, and TimescaleDB created a new 1-hour chunk every few seconds.)"""

    def __init__(self, *, port, first_sample):
        self.port, self.first_sample = port, first_sample
        self.numbers = collections.defaultdict(itertools.count)
        self.lock = threading.Lock()
        self.total_accepted = 0

    def body(self, gateway):
        with self.lock:
            number = next(self.numbers[gateway.token])
        at = self.first_sample + timedelta(seconds=5 * number)
        return gateway.template.replace(gateway.placeholder, format_time_local(at, gateway.tz).encode())

    def connect(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def post(self, connection, gateway):
        """Post one sample of ``gateway``; returns the HTTP status (raises OSError or HTTPException)."""
        connection.request("POST", INGEST_PATH, body=self.body(gateway), headers=gateway.headers)
        response = connection.getresponse()
        response.read()
        return response.status

    def client(self, gateway, deadline):
        connection = self.connect()
        latencies, accepted, failures = [], 0, []
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                status = self.post(connection, gateway)
            except (OSError, http.client.HTTPException) as error:
                failures.append(repr(error))
                connection.close()
                continue
            latencies.append(time.perf_counter() - began)
            if status == 202:
                accepted += 1
            else:
                failures.append(f"HTTP {status}")
        connection.close()
        with self.lock:
            self.latencies += latencies
            self.accepted += accepted
            self.failures += failures

    def run(self, gateways, *, seconds):
        """Post for ``seconds``; the figures of this run are left in latencies, accepted and failures."""
        self.latencies, self.accepted, self.failures = [], 0, []
        deadline = time.monotonic() + seconds
        threads = [threading.Thread(target=self.client, args=(gateway, deadline)) for gateway in gateways]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.total_accepted += self.accepted
        return time.monotonic() - began


class OpenLoad:
    """Open loop: ``rate`` POSTs a second on a fixed schedule, the gateways in turn, whatever the answers.

    Each latency runs from the request's scheduled send time, so a request that waited for a free connection
    counts its wait (no coordinated omission). The figures are left in latencies, accepted, failures,
    backlog (pairs of seconds since the start and batches not yet processed) and final_backlog.
    """

    def __init__(self, load, *, rate):
        self.load, self.rate = load, rate
        self.lock = threading.Lock()
        self.local = threading.local()
        self.connections = []

    def connection(self):
        if not hasattr(self.local, "connection"):
            self.local.connection = self.load.connect()
            with self.lock:
                self.connections.append(self.local.connection)
        return self.local.connection

    def post(self, gateway):
        """One POST on this thread's keep-alive connection, sent again once if the server had closed it."""
        connection = self.connection()
        try:
            return self.load.post(connection, gateway)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            connection.close()
            return self.load.post(connection, gateway)

    def send(self, gateway, scheduled):
        try:
            status = self.post(gateway)
        except (OSError, http.client.HTTPException) as error:
            self.connection().close()
            status = repr(error)
        latency = time.perf_counter() - scheduled
        with self.lock:
            self.latencies.append(latency)
            if status == 202:
                self.accepted += 1
            else:
                self.failures.append(status if isinstance(status, str) else f"HTTP {status}")

    def watch_backlog(self, began, stop):
        """Sample the batches not yet processed every BACKLOG_INTERVAL seconds until ``stop`` is set."""
        try:
            while not stop.wait(began + BACKLOG_INTERVAL * len(self.backlog) - time.perf_counter()):
                self.backlog.append((time.perf_counter() - began, _backlog()))
        finally:
            database_connection.close()

    def run(self, gateways, *, seconds):
        """Offer ``seconds`` of load; returns the seconds from the first scheduled send to the last answer."""
        self.latencies, self.accepted, self.failures = [], 0, []
        self.backlog = [(0.0, _backlog())]
        stop = threading.Event()
        began = time.perf_counter()
        watcher = threading.Thread(target=self.watch_backlog, args=(began, stop))
        watcher.start()
        with ThreadPoolExecutor(max_workers=OPEN_LOOP_CONNECTIONS) as pool:
            for number in range(round(self.rate * seconds)):
                scheduled = began + number / self.rate
                time.sleep(max(0.0, scheduled - time.perf_counter()))
                pool.submit(self.send, gateways[number % len(gateways)], scheduled)
        elapsed = time.perf_counter() - began
        stop.set()
        watcher.join()
        self.final_backlog = _backlog()
        for connection in self.connections:
            connection.close()
        self.load.total_accepted += self.accepted
        return elapsed


def _measured(load, gateways, *, seconds, server):
    """Post for ``seconds``; returns the elapsed seconds and the server's CPU ms per POST answered."""
    cpu_before = cpu_seconds(process_tree(server.pid))
    elapsed = load.run(gateways, seconds=seconds)
    cpu_after = cpu_seconds(process_tree(server.pid))
    cpu_ms = 1000 * (cpu_after - cpu_before) / max(1, load.accepted + len(load.failures))
    return elapsed, cpu_ms


@dataclass(frozen=True)
class Baseline:
    rate: float
    latencies: list
    failures: list
    cpu_ms: float


def _bare_baseline(gateways, *, first_sample, seconds):
    """The same closed loop against bench/bare_wsgi.py under the same gunicorn configuration."""
    database = settings.DATABASES["default"]
    dsn = psycopg.conninfo.make_conninfo(
        dbname=database["NAME"], user=database["USER"], password=database["PASSWORD"],
        host=database["HOST"], port=database["PORT"],
    )  # fmt: skip
    with database_connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {BARE_TABLE} (LIKE {IngestBatch._meta.db_table} INCLUDING ALL)")
    port = _free_port()
    server = start_process("bare", _gunicorn("bench.bare_wsgi:application", port), PMS_BENCH_BARE_DSN=dsn)
    try:
        _wait_for_port(port, server)
        load = Load(port=port, first_sample=first_sample)
        load.run(gateways, seconds=WARM_UP_SECONDS)
        elapsed, cpu_ms = _measured(load, gateways, seconds=seconds, server=server)
    finally:
        server.terminate()
        server.wait(timeout=60)
        with database_connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {BARE_TABLE}")
    return Baseline(load.accepted / elapsed, load.latencies, load.failures, cpu_ms)


def _backlog():
    """Batches landed but not yet processed by the worker."""
    return IngestBatch.objects.filter(
        status__in=[IngestBatch.Status.PENDING, IngestBatch.Status.PROCESSING]
    ).count()


def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _drain(expected_batches):
    """Wait until the worker has processed every batch; returns the seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < DRAIN_TIMEOUT:
        done = IngestBatch.objects.filter(status=IngestBatch.Status.DONE).count()
        if done >= expected_batches:
            return time.monotonic() - began
        time.sleep(0.5)
    raise RuntimeError(f"The worker did not process {expected_batches} batches within {DRAIN_TIMEOUT} s.")


def run(options):
    now = timezone.now().replace(microsecond=0)
    first_sample = now - timedelta(days=30)
    sites = [
        bench_site(
            pms_id=f"PMS-BENCH-HTTP-{number}", cabinets=PACKS // 12, at=first_sample - timedelta(days=1)
        )
        for number in range(1, options.clients + 1)
    ]
    gateways = [_gateway(site, now) for site in sites]
    print(f"  one POST: {PACKS} packs, {len(gateways[0].template) / 1000:.0f} kB of JSON")

    bare = _bare_baseline(gateways, first_sample=first_sample, seconds=options.seconds)
    celery_app.connection_for_write().default_channel.client.flushdb()
    port = _free_port()
    gunicorn_config = runpy.run_path(str(GUNICORN_CONFIG))
    web = start_process("web", _gunicorn("pms_site.wsgi", port))
    workers = [start_process(name, _celery_worker(name, *options)) for name, *options in WORKERS]
    schedule_directory = tempfile.TemporaryDirectory(prefix="bench-beat-")
    beat_command = [sys.executable, "-m", "celery", "-A", "pms_site", "beat", "--schedule"]
    beat = start_process("beat", [*beat_command, f"{schedule_directory.name}/schedule"])
    try:
        _wait_for_port(port, web)
        load = Load(port=port, first_sample=first_sample)
        began = time.monotonic()
        load.run(gateways, seconds=WARM_UP_SECONDS)  # every web process has loaded Django
        elapsed, web_cpu_ms = _measured(load, gateways, seconds=options.seconds, server=web)
        drain_seconds = _drain(load.total_accepted)
        worker_rate = load.total_accepted / (time.monotonic() - began)
        closed_loop_rate = load.accepted / elapsed
        # What the whole pipeline sustains: the web may accept faster than the worker stores, for a while.
        end_to_end_rate = min(closed_loop_rate, worker_rate)
        if options.tail_seconds:
            tail = OpenLoad(load, rate=OPEN_LOOP_FRACTION * end_to_end_rate)
            roles = {
                "client (this benchmark)": lambda: cpu_seconds([os.getpid()]),
                "gunicorn": lambda: cpu_seconds(process_tree(web.pid)),
                "Celery workers": lambda: cpu_seconds(
                    [pid for worker in workers for pid in process_tree(worker.pid)]
                ),
                "PostgreSQL": postgres_cpu_seconds,
            }
            cpu_before = {role: measure() for role, measure in roles.items()}
            tail_elapsed = tail.run(gateways, seconds=options.tail_seconds)
            tail_drain_seconds = _drain(load.total_accepted)
            tail_cpu_ms = {
                role: 1000 * (measure() - cpu_before[role]) / max(1, tail.accepted)
                for role, measure in roles.items()
            }
    finally:
        for process in (web, beat, *workers):
            process.terminate()
        for process in (web, beat, *workers):
            process.wait(timeout=60)
        schedule_directory.cleanup()

    stored = PackReading.objects.filter(site__in=sites).count()
    if stored != load.total_accepted * PACKS:
        raise RuntimeError(
            f"Sent {load.total_accepted * PACKS} rows in accepted POSTs, but {stored} were stored."
        )
    print(
        f"  {options.clients} gateways (a site each, one client each) for {elapsed:.0f} s after "
        f"{WARM_UP_SECONDS} s of warm-up; "
        f"gunicorn {gunicorn_config['workers']} workers x {gunicorn_config['threads']} threads, "
        f"Celery workers as `make run` starts them: {_workers_text()}"
    )
    for name, failures in (("baseline", bare.failures), ("ingest", load.failures)):
        if failures:
            print(f"  {name} failures: {len(failures)}, e.g. {failures[0]}")
    # The batches a worker task stores together share their processed_at.
    transactions = IngestBatch.objects.values("processed_at").distinct().count()
    figures = [
        Figure("POSTs accepted (202)", load.accepted, "POSTs"),
        Figure("POSTs failed", len(load.failures), "POSTs"),
        Figure("sustained rate", closed_loop_rate, "POST/s", ">= 200"),
        Figure("latency p50", 1000 * _percentile(load.latencies, 0.50), "ms"),
        Figure("latency p99", 1000 * _percentile(load.latencies, 0.99), "ms", "< 100"),
        Figure("baseline: bare WSGI app, INSERT only", bare.rate, "POST/s"),
        Figure("baseline: latency p50", 1000 * _percentile(bare.latencies, 0.50), "ms"),
        Figure("baseline: latency p99", 1000 * _percentile(bare.latencies, 0.99), "ms"),
        Figure("sustained rate / bare WSGI app", closed_loop_rate / bare.rate, ""),
        Figure("gunicorn CPU per POST", web_cpu_ms, "ms"),
        Figure("baseline: gunicorn CPU per POST", bare.cpu_ms, "ms"),
        Figure("rows stored (= rows sent, warm-up included)", stored, "rows"),
        Figure("worker drain after the last POST", drain_seconds, "s"),
        Figure("worker throughput, first POST to drained", worker_rate, "POST/s"),
        Figure("batches per worker transaction (mean)", load.total_accepted / transactions, "batches"),
    ]
    if options.tail_seconds:
        figures += _tail_figures(tail, tail_elapsed, tail_drain_seconds, options.tail_seconds, tail_cpu_ms)
    return figures


def _tail_figures(tail, elapsed, drain_seconds, offered_seconds, cpu_ms):
    """``cpu_ms``: CPU ms per POST accepted by role, from the open loop's start until the worker drained."""
    print(
        f"  then open loop: {OPEN_LOOP_FRACTION:.0%} of the closed loop's end-to-end rate (the lower of the "
        "sustained rate and the worker's throughput) offered for "
        f"{offered_seconds:.0f} s, the gateways in turn, up to {OPEN_LOOP_CONNECTIONS} requests in flight; "
        "latency from each request's scheduled send time"
    )
    if tail.failures:
        print(f"  open-loop failures: {len(tail.failures)}, e.g. {tail.failures[0]}")
    return [
        Figure("open loop: offered rate", tail.rate, "POST/s"),
        Figure("open loop: achieved rate (202)", tail.accepted / max(offered_seconds, elapsed), "POST/s"),
        Figure("open loop: POSTs accepted (202)", tail.accepted, "POSTs"),
        Figure("open loop: POSTs failed", len(tail.failures), "POSTs"),
        Figure("open loop: latency p50", 1000 * _percentile(tail.latencies, 0.50), "ms"),
        Figure("open loop: latency p99", 1000 * _percentile(tail.latencies, 0.99), "ms", "< 100"),
        Figure("open loop: latency max", 1000 * max(tail.latencies), "ms"),
        *(Figure(f"open loop: backlog at {at:.0f} s", batches, "batches") for at, batches in tail.backlog),
        Figure(f"open loop: backlog at the end ({elapsed:.0f} s)", tail.final_backlog, "batches"),
        Figure("open loop: worker drain after last POST", drain_seconds, "s"),
        *(Figure(f"open loop: CPU per POST, {role}", ms, "ms") for role, ms in cpu_ms.items()),
        Figure("open loop: CPU per POST, all of them", sum(cpu_ms.values()), "ms"),
    ]
