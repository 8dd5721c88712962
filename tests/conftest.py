import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone
from playwright.sync_api import sync_playwright

from analytics.services import analytics_refresh
from pms_site.celery import app as celery_app
from telemetry.models import Discrepancy
from telemetry.rollups import refresh_all_rollups
from tests.alarms.helpers import raised_alarm
from tests.factories import CaseFactory, UserFactory, build_site
from tests.web.conftest import add_mppt, add_readings

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "var" / "test-artifacts"


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, driven by Playwright: one per test module."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def is_local(url):
    """A request the browser may make: to the live server on this machine, or inline data."""
    return url.startswith(("http://localhost:", "http://127.0.0.1:", "data:", "blob:"))


@pytest.fixture
def world(db):
    """A monitored site for the browser walks: readings, an MPPT, an alarm and a discrepancy, and the users
    mgr (Manager) and eng (Field engineer). The readings' rollups are refreshed, as ingest would, so that the
    charts over 7 d or longer (drawn from rollups) show them."""
    site = build_site(cabinets=1, docks=4, pms_id="PMS-31-001", name="Policy Site")
    now = timezone.now()
    add_readings(site, minutes=30, step_seconds=60, end=now, weak_cell=3)
    add_mppt(site, minutes=30, end=now)
    refresh_all_rollups(start=now - timedelta(minutes=30), end=now + timedelta(seconds=1))
    # Here rather than by a worker, which a walk may or may not have running beside it: the energy tables and
    # the health panel are then on the pages at both widths.
    analytics_refresh(start=now - timedelta(minutes=30), end=now + timedelta(seconds=1))
    case = site.test_cases[(1, 1)]
    Discrepancy.objects.create(
        case=CaseFactory(),
        kind=Discrepancy.Kind.OTHER_SITE,
        observed_site=site,
        observed_dock=2,
        first_seen=now,
        last_seen=now,
    )
    raised_alarm(site, case)
    UserFactory(username="mgr", is_staff=True, groups=["Manager"])
    UserFactory(username="eng", is_staff=True, groups=["Field engineer"])
    return {"site": site, "case": case, "dock": site.test_docks[(1, 2)]}


@pytest.fixture
def other_session():
    """A second database session with its own transaction, to hold locks as another worker or a long
    migration would (needs a transactional test, so that it sees the test's committed rows)."""
    session = connections.create_connection("default")
    session.set_autocommit(False)
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def celery_worker_process(celery_worker_session):
    """A real Celery worker process on the real broker, writing to the test database.

    Tests that use it must commit their data (``transactional_db``) so the worker can see it. After the test
    it waits until the worker is idle: the tasks a test set off (an alarm evaluation after a batch, say)
    must not be running while the test database is emptied for the next test.
    """
    yield celery_worker_session
    hostname = celery_worker_session.hostname
    inspector = celery_app.control.inspect(destination=[hostname], timeout=1)
    broker = celery_app.connection_for_write().default_channel.client

    def idle():
        # The solo pool answers control messages only between tasks: no answer means it is busy.
        active, reserved = inspector.active(), inspector.reserved()
        if active is None or reserved is None:
            return False
        queued = sum(broker.llen(name) for name in celery_app.amqp.queues)
        return not active.get(hostname) and not reserved.get(hostname) and queued == 0

    wait_until(idle, timeout=60, interval=0.2)


@pytest.fixture(scope="session")
def celery_worker_session(django_db_setup, django_db_blocker):
    """The worker process itself, started once per test session."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "celery-worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PMS_WORKER_DATABASE_NAME": settings.DATABASES["default"]["NAME"],
    }
    celery_app.connection_for_write().default_channel.client.flushdb()
    hostname = f"test-worker-{os.getpid()}@localhost"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "pms_site",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                f"--hostname={hostname}",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                pytest.fail(f"Celery worker exited early; see {log_path}:\n{log_path.read_text()[-3000:]}")
            if celery_app.control.ping(destination=[hostname], timeout=0.5):
                break
        else:
            pytest.fail(f"Celery worker did not answer within 60 s; see {log_path}")
        worker.hostname = hostname
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def wait_until(predicate, timeout=30.0, interval=0.1):
    """Poll ``predicate`` until it returns something truthy; return that, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"Condition not met within {timeout} s")
