"""`make bench scale`: the scaled-out topology of docs/scaling.md on one machine, with faults.

- two gunicorn instances behind haproxy (round robin, TCP health checks, a refused connection retried on
  the other instance);
- two Celery workers with different hostnames on split queues: the ingest queue, and the rest;
- the primary and a streaming replica (scripts/db.sh replica, or PMS_BENCH_REPLICA_URL), the web instances
  reading their pages from the replica (DATABASE_REPLICA_URL).

Gateways post through haproxy until both instances have answered, then for `--seconds`: a third of the
way in one web instance is killed (SIGKILL, left down), half way the ingest worker is killed (SIGKILL) and
started again 3 s later, as systemd would. A gateway whose POST fails (connection reset, 502/503) sends the
same sample again, as a gateway does. The benchmark runs the ingest sweep every 5 s while it drains, as beat
does every 10 s. Then it checks that every sample answered 202 is stored exactly once, that nothing failed,
and that the pages served from the replica equal the same reads on the primary.
"""

import contextlib
import csv
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dj_database_url
import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from bench import Figure
from bench.fixtures import bench_site
from bench.http_ingest import INGEST_PATH, LOG_DIR, _free_port, _gateway, _wait_for_port
from pms_site.celery import app as celery_app
from telemetry import series
from telemetry.ingest.landing import batches_requeue_stale
from telemetry.models import IngestBatch, PackReading
from telemetry.simulation import format_time_local

PACKS = 48
GATEWAYS = 8
SWEEP_EVERY = 5
DRAIN_TIMEOUT = 600
WORKER_RESTART_AFTER = 3
WARM_UP_SECONDS = 3
WARM_UP_TIMEOUT = 120
RUN_DIR = Path(settings.VAR_DIR) / "bench-scale"

HAPROXY_CONFIG = """\
global
    maxconn 1024
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    # A connection refused by a dead instance is tried again on the other one; nothing else is retried.
    retries 3
    option redispatch
frontend gateways
    bind 127.0.0.1:{port}
    default_backend web
frontend stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
backend web
    balance roundrobin
    server web1 127.0.0.1:{web1} check inter 500 fall 2 rise 2
    server web2 127.0.0.1:{web2} check inter 500 fall 2 rise 2
"""


def _spawn(name, command, **env):
    """A process in its own process group (so a kill takes its children along), logging to var/log."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOG_DIR / f"bench-scale-{name}.log", "a") as log:
        return subprocess.Popen(
            command,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill(process):
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _queue_of(task_name):
    return celery_app.amqp.router.route({}, task_name, (), {})["queue"].name


def _worker_queues():
    """The ingest worker's queue (where telemetry.process_batch goes), and the other worker's."""
    ingest = _queue_of("telemetry.process_batch")
    others = {_queue_of("alarms.evaluate_sites"), _queue_of("telemetry.refresh_rollups_1m")}
    others |= {celery_app.conf.task_default_queue}
    return ingest, ",".join(sorted(others - {ingest}) or ["alarms", "rollups"])


def _replica_url():
    """The bench database on the replica: PMS_BENCH_REPLICA_URL, else the local cluster's (started here)."""
    if os.environ.get("PMS_BENCH_REPLICA_URL"):
        return os.environ["PMS_BENCH_REPLICA_URL"]
    if os.environ.get("DATABASE_URL") and not os.environ.get("PMS_PG_PORT"):
        raise RuntimeError(
            "DATABASE_URL names your own server: set PMS_BENCH_REPLICA_URL to the benchmark database on its "
            "streaming replica (or PMS_PG_PORT if DATABASE_URL is a local cluster of scripts/db.sh)"
        )
    db_sh = str(Path(settings.BASE_DIR) / "scripts" / "db.sh")
    subprocess.run(["bash", db_sh, "replica", "start"], check=True, stdout=subprocess.DEVNULL)
    url = subprocess.run(["bash", db_sh, "replica", "url"], check=True, capture_output=True, text=True)
    return url.stdout.strip().rsplit("/", 1)[0] + "/" + settings.DATABASES["default"]["NAME"]


def _wait_for_replica(replica):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        [written] = cursor.fetchone()
    with replica.cursor() as cursor:
        for _ in range(600):
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [written])
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise RuntimeError("the replica did not catch up in 30 s")


class Gateways:
    """Gateways posting one sample each time through haproxy; a failed POST is sent again until a 202."""

    def __init__(self, gateways, *, port, first_sample):
        self.gateways, self.port, self.first_sample = gateways, port, first_sample
        self.lock = threading.Lock()
        self.next_sample = 0
        self.accepted, self.retries = 0, 0

    def _body(self, gateway):
        with self.lock:
            number, self.next_sample = self.next_sample, self.next_sample + 1
        at = self.first_sample + timedelta(seconds=5 * number)
        return gateway.template.replace(gateway.placeholder, format_time_local(at, gateway.tz).encode())

    def _post_until_accepted(self, connection_, gateway, body):
        while True:
            try:
                connection_.request("POST", INGEST_PATH, body=body, headers=gateway.headers)
                response = connection_.getresponse()
                response.read()
                if response.status == 202:
                    return connection_
                if response.status not in (502, 503, 504):
                    raise RuntimeError(f"POST answered {response.status}")
            except (OSError, http.client.HTTPException):
                connection_.close()
                connection_ = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            with self.lock:
                self.retries += 1
            time.sleep(0.05)

    def _client(self, gateway, deadline):
        connection_ = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while time.monotonic() < deadline:
            connection_ = self._post_until_accepted(connection_, gateway, self._body(gateway))
            with self.lock:
                self.accepted += 1
        connection_.close()

    def run(self, seconds):
        deadline = time.monotonic() + seconds
        threads = [threading.Thread(target=self._client, args=(g, deadline)) for g in self.gateways]
        for thread in threads:
            thread.start()
        return threads


def _haproxy_2xx(stats_port):
    """{server: 2xx answers} from haproxy's CSV statistics."""
    with contextlib.closing(http.client.HTTPConnection("127.0.0.1", stats_port, timeout=5)) as stats:
        stats.request("GET", "/stats;csv")
        rows = csv.DictReader(io.StringIO(stats.getresponse().read().decode().lstrip("# ")))
        return {row["svname"]: int(row["hrsp_2xx"] or 0) for row in rows if row["pxname"] == "web"}


def _warm_up(load, stats_port):
    """Post until both instances have answered (every gunicorn process has loaded the project)."""
    deadline = time.monotonic() + WARM_UP_TIMEOUT
    while time.monotonic() < deadline:
        for thread in load.run(WARM_UP_SECONDS):
            thread.join()
        if all(_haproxy_2xx(stats_port).get(name) for name in ("web1", "web2")):
            return
    raise RuntimeError(f"haproxy did not get answers from both web instances in {WARM_UP_TIMEOUT} s")


def _drain():
    """Wait until no batch is pending or processing, running the sweep as beat would; returns seconds."""
    began = time.monotonic()
    waiting = IngestBatch.objects.filter(
        status__in=[IngestBatch.Status.PENDING, IngestBatch.Status.PROCESSING]
    )
    last_sweep = 0.0
    while time.monotonic() - began < DRAIN_TIMEOUT:
        if not waiting.exists():
            return time.monotonic() - began
        if time.monotonic() - last_sweep > SWEEP_EVERY:
            batches_requeue_stale()
            last_sweep = time.monotonic()
        time.sleep(0.5)
    raise RuntimeError(f"{waiting.count()} batches still waiting after {DRAIN_TIMEOUT} s")


def _get(port, path, session_key):
    with contextlib.closing(http.client.HTTPConnection("127.0.0.1", port, timeout=30)) as page:
        page.request("GET", path, headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}"})
        response = page.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        return body


def _replica_rows_returned(replica):
    with replica.cursor() as cursor:
        cursor.execute(
            "SELECT tup_returned + tup_fetched FROM pg_stat_database WHERE datname = current_database()"
        )
        return cursor.fetchone()[0]


def _check_pages(port, replica, sites, first_sample):
    """The fleet page and a site's chart data served through haproxy (from the replica) against the same
    reads on the primary. Returns the rows the replica returned meanwhile."""
    _wait_for_replica(replica)
    user = get_user_model().objects.create_superuser("bench-scale", password=None)
    session = SessionStore()
    session.update(
        {"_auth_user_id": str(user.pk), "_auth_user_backend": settings.AUTHENTICATION_BACKENDS[-1]}
    )
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    _wait_for_replica(replica)
    before = _replica_rows_returned(replica)

    fleet = _get(port, reverse("web:fleet") + "?q=PMS-BENCH-SCALE", session.session_key).decode()
    missing = [site.pms_id for site in sites if site.pms_id not in fleet]
    if missing:
        raise RuntimeError(f"the fleet page from the replica misses {missing}")
    site = sites[0]
    start = timezone.localtime(first_sample, timezone=ZoneInfo(site.time_zone)).replace(second=0)
    end = start + timedelta(hours=6)
    query = f"?range=custom&start={start:%Y-%m-%dT%H:%M}&end={end:%Y-%m-%dT%H:%M}"
    served = json.loads(_get(port, reverse("web:site-series", args=[site.pk]) + query, session.session_key))
    primary = series.pack_series(resolution=series.series_resolution(start=start, end=end), site=site)
    if served["packs"] != json.loads(json.dumps(primary)) or not primary["t"]:
        raise RuntimeError("the site's chart data from the replica differ from the primary's")
    return _replica_rows_returned(replica) - before


def run(options):
    now = timezone.now().replace(microsecond=0)
    first_sample = now - timedelta(days=1)
    sites = [
        bench_site(pms_id=f"PMS-BENCH-SCALE-{n}", cabinets=PACKS // 12, at=first_sample - timedelta(days=1))
        for n in range(1, GATEWAYS + 1)
    ]
    gateways = [_gateway(site, now) for site in sites]
    replica_url = _replica_url()
    parsed = dj_database_url.parse(replica_url)
    replica = psycopg.connect(
        host=parsed["HOST"],
        port=parsed["PORT"],
        dbname=parsed["NAME"],
        user=parsed["USER"],
        password=parsed["PASSWORD"],
        autocommit=True,
    )
    ingest_queue, other_queues = _worker_queues()
    print(f"  workers: -Q {ingest_queue} and -Q {other_queues}", flush=True)

    celery_app.connection_for_write().default_channel.client.flushdb()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    ports = {name: _free_port() for name in ("port", "stats_port", "web1", "web2")}
    (RUN_DIR / "haproxy.cfg").write_text(HAPROXY_CONFIG.format(**ports))
    python = sys.executable
    gunicorn_config = str(Path(settings.BASE_DIR) / "pms_site" / "gunicorn.conf.py")
    web_env = {"DATABASE_REPLICA_URL": replica_url, "WEB_WORKERS": "2"}
    webs = [
        _spawn(name, [python, "-m", "gunicorn", "pms_site.wsgi", "--bind", f"127.0.0.1:{ports[name]}",
                      "--log-level", "warning", "--config", gunicorn_config], **web_env)
        for name in ("web1", "web2")
    ]  # fmt: skip

    def worker(name, queues):
        return _spawn(
            name,
            [python, "-m", "celery", "-A", "pms_site", "worker", "--concurrency", "1", "-Q", queues,
             "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
             "--hostname", f"{name}-{os.getpid()}@bench-host-{name}"],
        )  # fmt: skip

    workers = {"ingest": worker("ingest", ingest_queue), "other": worker("other", other_queues)}
    haproxy = _spawn("haproxy", ["haproxy", "-f", str(RUN_DIR / "haproxy.cfg")])
    processes = lambda: [*webs, *workers.values(), haproxy]  # noqa: E731
    try:
        for name, web in zip(("web1", "web2"), webs, strict=True):
            _wait_for_port(ports[name], web)
        _wait_for_port(ports["port"], haproxy)
        load = Gateways(gateways, port=ports["port"], first_sample=first_sample)
        _warm_up(load, ports["stats_port"])
        began = time.monotonic()
        threads = load.run(options.seconds)
        time.sleep(options.seconds / 3)
        _kill(webs[1])
        accepted_at_web_kill = load.accepted
        time.sleep(max(0.0, began + options.seconds / 2 - time.monotonic()))
        _kill(workers["ingest"])
        time.sleep(WORKER_RESTART_AFTER)
        workers["ingest"] = worker("ingest", ingest_queue)
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        drain_seconds = _drain()
        served_by = _haproxy_2xx(ports["stats_port"])
        replica_rows = _check_pages(ports["port"], replica, sites, first_sample)
    finally:
        for process in processes():
            if process.poll() is None:
                _kill(process)
        replica.close()

    stored = PackReading.objects.filter(site__in=sites).count()
    failed = IngestBatch.objects.filter(status=IngestBatch.Status.FAILED).count()
    landed = IngestBatch.objects.count()
    if stored != load.accepted * PACKS or failed:
        raise RuntimeError(f"{load.accepted * PACKS} rows accepted, {stored} stored, {failed} batches failed")
    return [
        Figure("POSTs accepted (202)", load.accepted, "POSTs"),
        Figure("accepted before web2 was killed (warm-up included)", accepted_at_web_kill, "POSTs"),
        Figure("answered 2xx by web1", served_by.get("web1", 0), "POSTs"),
        Figure("answered 2xx by web2", served_by.get("web2", 0), "POSTs"),
        Figure("POSTs sent again after a failure", load.retries, "POSTs"),
        Figure("batches landed (a re-send lands again)", landed, "batches"),
        Figure("sustained rate through haproxy", load.accepted / elapsed, "POST/s"),
        Figure("drain after the last POST (with the sweep)", drain_seconds, "s"),
        Figure("rows stored (= rows accepted, exactly once)", stored, "rows"),
        Figure("batches failed", failed, "batches"),
        Figure("rows the replica returned for the pages", replica_rows, "rows"),
    ]
