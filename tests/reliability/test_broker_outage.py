"""Redis goes away and comes back while the worker runs an acks-late task: the worker lives on, reconnects,
and every batch a gateway posted, before, during and after the outage, is stored exactly once.

Issue #9: the worker died with kombu's ``AttributeError: 'NoneType' object has no attribute 'hostname'``
("Unrecoverable error") in 4 of 10 outages; pms_site/celery.py has the cause and the fix. The test runs its
own Redis without persistence (so a restart loses the queue, as it does on a cache-only Redis) and its own
worker on it, started as `make run` starts it, and holds a ``telemetry.process_batch`` task mid-transaction
with a table lock while Redis is down.
"""

import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings

from pms_site.celery import app as celery_app
from telemetry import services
from telemetry.models import IngestBatch, PackReading
from telemetry.services import gateway_token_create
from tests.conftest import ARTIFACTS, ROOT, wait_until
from tests.factories import build_site
from tests.telemetry.payloads import ago, site_sample

REDIS_PORT = 56381
OUTAGES = 3
OUTAGE_SECONDS = 3
POSTS_DURING_OUTAGE = 3
DOCKS = 4
NO_PERSISTENCE = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


class RedisServer:
    """A redis-server of the test's own, on a fixed spare port, that can be taken down and started again."""

    def __init__(self, port, directory):
        self.port = port
        self.directory = directory
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = None

    def start(self):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                pytest.fail(f"Port {self.port} is taken: another test's Redis left behind?")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), *NO_PERSISTENCE],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        wait_until(lambda: self._answers(client), timeout=10)

    @staticmethod
    def _answers(client):
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    def stop(self):
        """An outage: Redis is killed. It drops its clients in an order of its own, and the worker crashed
        only when it noticed the loss on a pub/sub (remote control) connection while its BRPOP was waiting:
        those connections are dropped first, so that every outage is one that crashed it."""
        redis.Redis(port=self.port).client_kill_filter(_type="pubsub")
        self.process.kill()
        self.process.wait()

    def close(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(REDIS_PORT, tmp_path)
    server.start()
    # This process (the ingest endpoint, the sweep) publishes to it too. The app keeps its broker
    # connections in pools: they are dropped, as after a fork, both ways.
    default_url = celery_app.conf.broker_url
    celery_app.conf.broker_url = server.url
    celery_app._after_fork()
    yield server
    celery_app.conf.broker_url = default_url
    celery_app._after_fork()
    server.close()


@pytest.fixture
def start_worker(broker):
    """Start a Celery worker on ``broker`` as `make run` does, writing to the test database."""
    started = []

    def start(pool):
        log_path = ARTIFACTS / f"broker-outage-worker-{pool}.log"
        hostname = f"outage-{pool}-{os.getpid()}@localhost"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PMS_WORKER_DATABASE_NAME": django_settings.DATABASES["default"]["NAME"],
            "TEST_CELERY_BROKER_URL": broker.url,
            "INGEST_LOCK_TIMEOUT": "120s",  # the task waits for the test's table lock as long as it is held
        }
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "pms_site", "worker", f"--pool={pool}",
                 "--concurrency=2", "--loglevel=INFO", f"--hostname={hostname}"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        started.append(worker)
        worker.hostname = hostname
        worker.log_path = log_path
        wait_until(lambda: worker.poll() is not None or celery_app.control.ping([hostname], timeout=0.5), 60)
        assert worker.poll() is None, log_path.read_text()[-3000:]
        return worker

    yield start
    for worker in started:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def wait_for_status(worker, batch_id, status, timeout):
    def reached():
        log = worker.log_path.read_text()
        if worker.poll() is not None or "Unrecoverable error" in log:
            pytest.fail(f"The worker died; see {worker.log_path}:\n{log[-4000:]}")
        return IngestBatch.objects.get(id=batch_id).status == status

    wait_until(reached, timeout=timeout)


def idle(worker):
    active = celery_app.control.inspect([worker.hostname], timeout=1).active()
    return active is not None and active.get(worker.hostname) == []


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_the_worker_rides_out_broker_outages_mid_task_and_every_posted_batch_is_stored_once(
    pool, broker, start_worker, other_session, client, settings
):
    site = build_site(docks=DOCKS, at=ago(days=1))
    _, raw_token = gateway_token_create(site=site, name="gateway")
    sample_times = iter([ago(seconds=seconds) for seconds in range(300, 0, -5)])
    worker = start_worker(pool)
    posted = []
    outage_post_seconds = []

    def post():
        """POST the next sample as the site's gateway; returns the batch id."""
        response = client.post(
            "/api/v1/ingest/",
            data=site_sample(site, next(sample_times)),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {raw_token}",
        )
        assert response.status_code == 202
        posted.append(response.json()["batch"])
        return posted[-1]

    for _ in range(OUTAGES):
        # The worker must be idle with a free pool process, waiting on BRPOP: the state it crashed in.
        wait_until(lambda: idle(worker), timeout=30)
        with other_session.cursor() as cursor:  # the next task waits for this lock inside its transaction
            cursor.execute("LOCK TABLE telemetry_packstate IN ACCESS EXCLUSIVE MODE")
        held = post()
        wait_for_status(worker, held, "processing", timeout=30)

        broker.stop()
        for _ in range(POSTS_DURING_OUTAGE):
            started = time.monotonic()
            post()
            outage_post_seconds.append(time.monotonic() - started)
        time.sleep(OUTAGE_SECONDS)
        broker.start()
        other_session.rollback()

        wait_for_status(worker, held, "done", timeout=60)
        # This one's message is on the restarted Redis: processed, so the worker has reconnected.
        wait_for_status(worker, post(), "done", timeout=60)

    # A batch whose message was refused while Redis was down, or lost with it, is taken along by a later
    # task (INGEST_BATCH_COMPANIONS) or queued again by beat's sweep, run here for what is left.
    settings.INGEST_SWEEP_AFTER = timedelta(0)
    services.batches_requeue_stale()
    wait_until(lambda: not IngestBatch.objects.filter(id__in=posted).exclude(status="done").exists(), 60)

    assert worker.poll() is None
    log = worker.log_path.read_text()
    assert "Unrecoverable error" not in log
    assert log.count("Connected to redis") >= OUTAGES + 1
    stored = IngestBatch.objects.filter(id__in=posted).values_list("stored", flat=True)
    assert sum(stored) == DOCKS * len(posted)
    assert PackReading.objects.filter(site=site).count() == DOCKS * len(posted)
    # Each POST landed its batch and answered 202 without waiting for the broker. The target is 100 ms; on a
    # shared 2-core test machine a single POST may take longer, so only the median is held to it here.
    assert statistics.median(outage_post_seconds) < 0.1, outage_post_seconds
    assert max(outage_post_seconds) < 0.5, outage_post_seconds
