"""The database stops and starts under a stream of gateway POSTs and page views, as in production.

The test runs its own PostgreSQL + TimescaleDB cluster and Redis on spare ports (the shared ones are never
touched), migrates it, and serves the app with gunicorn as `make run` does (pms_site/settings.py,
pms_site/gunicorn.conf.py, two processes). While the cluster is down every answer is 503 with Retry-After, the
web log has one line for the outage, and when it is back the app recovers by itself; every POST answered 202
is in the database.
"""

import contextlib
import glob
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.conftest import ARTIFACTS, ROOT
from tests.telemetry.payloads import ago, dataset, device_record, envelope

OUTAGE_SECONDS = 4
RETRY_AFTER = "7"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pg_bin():
    """The newest installed PostgreSQL with TimescaleDB (as scripts/db.sh finds it), or PMS_PG_BIN."""
    if os.environ.get("PMS_PG_BIN"):
        return Path(os.environ["PMS_PG_BIN"])
    for bin_dir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(path.split("/")[-2])):
        if glob.glob(f"{Path(bin_dir).parent}/lib/timescaledb*.so"):
            found = Path(bin_dir)
    return found


class Cluster:
    """A throw-away PostgreSQL cluster; as root, it runs as the postgres OS user (as scripts/db.sh does)."""

    def __init__(self, directory, port):
        self.bin, self.port = _pg_bin(), port
        self.data, self.log = directory / "data", directory / "postgres.log"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(directory, "postgres")
        self._run(
            "initdb", "-D", self.data, "-U", "pms", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"
        )
        settings = (
            "shared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\n"
            f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{directory}'\n"
        )
        self._run("sh", "-c", f'printf %s "{settings}" >> {self.data}/postgresql.conf', binary=False)
        self.url = f"postgres://pms@127.0.0.1:{port}/pms"

    def _run(self, program, *args, binary=True):
        command = [str(self.bin / program) if binary else program, *map(str, args)]
        subprocess.run([*self.as_postgres, *command], cwd="/", check=True, capture_output=True)

    def start(self):
        self._run("pg_ctl", "start", "-w", "-D", self.data, "-l", self.log)

    def stop(self):
        self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", self.data)


@pytest.fixture
def services(tmp_path_factory):
    """The cluster (with database pms, migrated), a Redis, and the environment for the app's processes."""
    directory = Path(tempfile.mkdtemp(prefix="pms-outage-"))
    cluster = Cluster(directory, _free_port())
    cluster.start()
    redis_port = _free_port()
    redis = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pms_site.settings",
        "DATABASE_URL": cluster.url,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SHARED_CACHE_URL": f"redis://127.0.0.1:{redis_port}/1",
        "DJANGO_SECRET_KEY": "outage-test",
        "PMS_VAR_DIR": str(tmp_path_factory.mktemp("var")),
        "DATABASE_UNAVAILABLE_RETRY_AFTER_S": RETRY_AFTER,
        "WEB_WORKERS": "2",
        "WEB_THREADS": "2",
        "INGEST_RATE_PER_TOKEN": "1000000/min",  # the stream outpaces a gateway; the limit is tested apart
    }
    try:
        with psycopg.connect(cluster.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE pms")
        for command in (["migrate", "--no-input", "-v0"], ["collectstatic", "--no-input", "-v0"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
        yield cluster, env
    finally:
        redis.terminate()
        redis.wait(timeout=10)
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


SET_UP = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from assets.models import Site
from telemetry.tokens import gateway_token_create
site = Site.objects.create(name="Outage", pms_id="PMS-OUTAGE", location="Loopback", time_zone="UTC")
user = get_user_model().objects.create_superuser("manager", "manager@example.com", "unused-password")
session = SessionStore()
session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash()})
session.create()
token = gateway_token_create(site=site, name="gateway")[1]
print(json.dumps({"token": token, "session": session.session_key}))
"""


@pytest.fixture
def web(services):
    """gunicorn serving the app on the cluster; yields (port, gateway token, session key, log path)."""
    _, env = services
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SET_UP],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    credentials = json.loads(made.stdout.decode().strip().splitlines()[-1])
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "gunicorn-database-outage.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "pms_site/gunicorn.conf.py", "-b", f"127.0.0.1:{port}",
             "pms_site.wsgi"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while _answer(port, "GET", "/accounts/login/") is None:
            assert server.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
            time.sleep(0.2)
        yield port, credentials["token"], credentials["session"], log_path
    finally:
        server.terminate()
        server.wait(timeout=20)


@dataclass
class Answer:
    started: float
    ended: float
    kind: str
    status: int
    retry_after: str | None
    content_type: str | None
    batch: str | None


def _answer(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        content = response.read()
        batch = json.loads(content)["batch"] if response.status == 202 else None
        return response.status, response.getheader("Retry-After"), response.getheader("Content-Type"), batch
    except (ConnectionError, OSError):
        return None
    finally:
        connection.close()


def _stream(port, token, session, answers, stop):
    """POST a sample, then view a page, over and over, as a gateway and a manager would."""
    post_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    page_headers = {"Cookie": f"sessionid={session}"}
    while not stop.is_set():
        for kind, method, path, headers in (
            ("ingest", "POST", "/api/v1/ingest/", post_headers),
            ("page", "GET", "/fleet/", page_headers),
        ):
            body = (
                envelope(dataset("mppt", "MPPT-X", [device_record(ago(seconds=5))]))
                if method == "POST"
                else None
            )
            started = time.monotonic()
            result = _answer(port, method, path, body, headers)
            assert result is not None, "gunicorn stopped answering"
            answers.append(Answer(started, time.monotonic(), kind, *result))


def test_the_database_down_means_503_with_retry_after_and_recovery_by_itself(services, web):
    cluster, _ = services
    port, token, session, log_path = web
    answers, stop = [], threading.Event()
    streamer = threading.Thread(target=_stream, args=(port, token, session, answers, stop))
    streamer.start()
    try:
        time.sleep(2)
        cluster.stop()
        stopped = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        restarting = time.monotonic()
        cluster.start()
        started = time.monotonic()
        deadline = started + 30
        while (
            not any(a.started > started and a.status == 202 for a in answers) and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        time.sleep(2)
    finally:
        stop.set()
        streamer.join(timeout=30)

    before = [a for a in answers if a.ended < stopped - 0.5]
    during = [a for a in answers if a.started > stopped and a.ended < restarting]
    recovered = [a for a in answers if a.started > started]
    first_success = next(i for i, a in enumerate(recovered) if a.status in (200, 202))
    assert {a.status for a in answers} <= {200, 202, 503}, "no other status, above all no 500"
    assert before and {a.status for a in before} <= {200, 202}
    assert len(during) >= 10 and {(a.kind, a.status, a.retry_after, a.content_type) for a in during} == {
        ("ingest", 503, RETRY_AFTER, "application/json"),
        ("page", 503, RETRY_AFTER, "text/html; charset=utf-8"),
    }
    assert recovered[first_success].started - started < 15, "recovered within 15 s of the restart"
    assert {a.status for a in recovered[first_success + 2 :]} <= {200, 202}

    log = log_path.read_text()
    assert log.count("Database unavailable") == 1, log[-5000:]
    assert log.count("Database available again") == 1, log[-5000:]
    assert "Traceback" not in log and "Internal Server Error" not in log, log[-5000:]

    accepted = {a.batch for a in answers if a.status == 202}
    with psycopg.connect(cluster.url) as database:
        stored = {str(row[0]) for row in database.execute("SELECT id FROM telemetry_ingestbatch")}
    assert accepted <= stored
    # A POST in flight when the cluster was killed may have been committed but not answered: at most one.
    assert len(stored - accepted) <= 1
