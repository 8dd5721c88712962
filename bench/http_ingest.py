"""HTTP ingest: gunicorn and a Celery worker on loopback, several gateways (a site each) posting 48-pack
samples over keep-alive connections for a bounded time; POST/s, latency, and a check that every row sent was
stored once the worker drained.

Then the tail: 80 % of the sustained rate just measured, offered open loop (on a fixed schedule, whatever the
answers), with latencies from each request's scheduled send time and the worker's backlog along the way."""

import http.client
import itertools
import os
import runpy
import socket
import subprocess
import sys
import threading
import time
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import msgspec
from django.conf import settings
from django.db import connection as database_connection
from django.utils import timezone

from bench import Figure
from bench.fixtures import bench_site
from pms_site.celery import app as celery_app
from telemetry.models import IngestBatch, PackReading
from telemetry.services import gateway_token_create
from telemetry.simulation import Simulator, format_time_local, site_layout

PACKS = 48
TASK_WORKERS = 2
WARM_UP_SECONDS = 3
DRAIN_TIMEOUT = 600
OPEN_LOOP_FRACTION = 0.8  # of the closed-loop rate
OPEN_LOOP_CONNECTIONS = 64  # at most this many requests in flight; later ones wait their turn, and it counts
BACKLOG_INTERVAL = 10  # seconds between samples of the worker's backlog
INGEST_PATH = "/api/v1/ingest/"
LOG_DIR = Path(settings.VAR_DIR) / "log"
GUNICORN_CONFIG = Path(settings.BASE_DIR) / "pms_site" / "gunicorn.conf.py"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(name, command):
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOG_DIR / f"bench-{name}.log", "w") as log:
        return subprocess.Popen(
            command,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_for_port(port, server, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited early; see {LOG_DIR / 'bench-web.log'}")
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
    """One client per gateway, posting one sample each time, every sample at its own instant (so nothing is
    a duplicate)."""

    def __init__(self, *, port, first_sample):
        self.port, self.first_sample = port, first_sample
        self.numbers = itertools.count()
        self.lock = threading.Lock()
        self.total_accepted = 0

    def body(self, gateway):
        at = self.first_sample + timedelta(seconds=5 * next(self.numbers))
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

    celery_app.connection_for_write().default_channel.client.flushdb()
    port = _free_port()
    python = sys.executable
    gunicorn_config = runpy.run_path(str(GUNICORN_CONFIG))
    web = _start(
        "web",
        [python, "-m", "gunicorn", "pms_site.wsgi", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         "--config", str(GUNICORN_CONFIG)],
    )  # fmt: skip
    worker = _start(
        "worker",
        [python, "-m", "celery", "-A", "pms_site", "worker", "--concurrency", str(TASK_WORKERS),
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
         "--hostname", f"bench-{os.getpid()}@localhost"],
    )  # fmt: skip
    try:
        _wait_for_port(port, web)
        load = Load(port=port, first_sample=first_sample)
        began = time.monotonic()
        load.run(gateways, seconds=WARM_UP_SECONDS)  # every web process has loaded Django
        elapsed = load.run(gateways, seconds=options.seconds)
        drain_seconds = _drain(load.total_accepted)
        worker_rate = load.total_accepted / (time.monotonic() - began)
        closed_loop_rate = load.accepted / elapsed
        if options.tail_seconds:
            tail = OpenLoad(load, rate=OPEN_LOOP_FRACTION * closed_loop_rate)
            tail_elapsed = tail.run(gateways, seconds=options.tail_seconds)
            tail_drain_seconds = _drain(load.total_accepted)
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            process.wait(timeout=60)

    stored = PackReading.objects.filter(site__in=sites).count()
    if stored != load.total_accepted * PACKS:
        raise RuntimeError(
            f"Sent {load.total_accepted * PACKS} rows in accepted POSTs, but {stored} were stored."
        )
    print(
        f"  {options.clients} gateways (a site each, one client each) for {elapsed:.0f} s after "
        f"{WARM_UP_SECONDS} s of warm-up; "
        f"gunicorn {gunicorn_config['workers']} workers x {gunicorn_config['threads']} threads, "
        f"Celery worker concurrency {TASK_WORKERS}"
    )
    if load.failures:
        print(f"  failures: {len(load.failures)}, e.g. {load.failures[0]}")
    # The batches a worker task stores together share their processed_at.
    transactions = IngestBatch.objects.values("processed_at").distinct().count()
    figures = [
        Figure("POSTs accepted (202)", load.accepted, "POSTs"),
        Figure("POSTs failed", len(load.failures), "POSTs"),
        Figure("sustained rate", closed_loop_rate, "POST/s", ">= 200"),
        Figure("latency p50", 1000 * _percentile(load.latencies, 0.50), "ms"),
        Figure("latency p99", 1000 * _percentile(load.latencies, 0.99), "ms", "< 100"),
        Figure("rows stored (= rows sent, warm-up included)", stored, "rows"),
        Figure("worker drain after the last POST", drain_seconds, "s"),
        Figure("worker throughput, first POST to drained", worker_rate, "POST/s"),
        Figure("batches per worker transaction (mean)", load.total_accepted / transactions, "batches"),
    ]
    if options.tail_seconds:
        figures += _tail_figures(tail, tail_elapsed, tail_drain_seconds, options.tail_seconds)
    return figures


def _tail_figures(tail, elapsed, drain_seconds, offered_seconds):
    print(
        f"  then open loop: {OPEN_LOOP_FRACTION:.0%} of the sustained rate offered for "
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
    ]
