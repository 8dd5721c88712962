"""A worker killed with kill -9 mid-batch: the sweep finds what it left, and everything it held is stored
exactly once, within 60 s. The sweep's own rules are tested first, without a worker."""

import signal
import time
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from telemetry import queue, services
from telemetry.models import IngestBatch, PackReading
from tests.conftest import wait_until
from tests.factories import build_site
from tests.telemetry.payloads import ago, site_sample

DOCKS = 4


def land(site, at, **fields):
    return IngestBatch.objects.create(payload=site_sample(site, at), site=site, **fields)


@pytest.fixture
def published(monkeypatch):
    """The batch ids the sweep publishes, caught before they reach the broker."""
    ids = []
    monkeypatch.setattr(queue, "batch_enqueue", ids.append)
    return ids


@pytest.mark.django_db(transaction=True)
def test_the_sweep_queues_abandoned_batches_and_leaves_those_a_live_transaction_holds(
    other_session, published
):
    site = build_site(docks=DOCKS, at=ago(days=1))
    long_ago = timezone.now() - timedelta(minutes=1)
    abandoned = land(site, ago(minutes=3), status="processing", started_at=long_ago, enqueued_at=long_ago)
    held = land(site, ago(minutes=2), status="processing", started_at=long_ago, enqueued_at=long_ago)
    just_started = land(site, ago(minutes=1), status="processing", started_at=timezone.now())
    recently_queued = land(site, ago(seconds=30), enqueued_at=timezone.now())
    land(site, ago(seconds=20), status="done", enqueued_at=long_ago)
    with other_session.cursor() as cursor:  # a worker's transaction, alive
        cursor.execute("SELECT id FROM telemetry_ingestbatch WHERE id = %s FOR UPDATE", [held.id])

    assert services.batches_requeue_stale() == 1

    assert published == [abandoned.id]
    for untouched in (held, just_started, recently_queued):
        before = untouched.enqueued_at
        untouched.refresh_from_db()
        assert untouched.enqueued_at == before


@pytest.mark.django_db(transaction=True)
def test_the_sweep_sends_one_message_per_task_load_of_waiting_batches(published, settings):
    site = build_site(docks=DOCKS, at=ago(days=1))
    long_ago = timezone.now() - timedelta(minutes=5)
    waiting = [land(site, ago(seconds=n), enqueued_at=long_ago) for n in range(1, 121)]

    assert services.batches_requeue_stale() == 120

    # A task takes its batch and INGEST_BATCH_COMPANIONS others: 120 waiting batches, 3 messages.
    assert settings.INGEST_BATCH_COMPANIONS == 49
    assert len(published) == 3
    assert set(published) <= {batch.id for batch in waiting}
    assert services.batches_requeue_stale() == 0  # queued just now: not again before INGEST_SWEEP_AFTER


@pytest.mark.slow
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(240)
def test_a_worker_killed_mid_batch_loses_nothing_stores_nothing_twice_and_is_recovered_within_60_s(
    stack, other_session
):
    sites = [build_site(docks=DOCKS, at=ago(days=1)) for _ in range(3)]
    stack.start_redis()
    stack.start_beat()
    doomed = stack.start_worker("doomed")
    sent = []

    def stream(count, start):
        for n in range(start, start + count):
            batch = land(sites[n % 3], ago(minutes=10) + timedelta(seconds=5 * n), enqueued_at=timezone.now())
            stack.publish(batch)
            sent.append(batch)
            time.sleep(0.05)

    # Hold the latest-state table, as a long migration would: the worker blocks mid-batch, after its COPY.
    with other_session.cursor() as cursor:
        cursor.execute("LOCK TABLE telemetry_packstate IN ACCESS EXCLUSIVE MODE")
    stream(10, 0)
    wait_until(lambda: IngestBatch.objects.filter(status="processing").exists(), timeout=30)
    time.sleep(1)  # well inside the COPY and the wait for the lock

    doomed.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    doomed.wait()
    other_session.rollback()  # the dead worker's transaction ends with it
    stream(10, 10)  # no worker now
    stack.start_worker("successor")
    stream(10, 20)

    def all_done():
        return not IngestBatch.objects.exclude(status="done").exists()

    wait_until(all_done, timeout=max(1.0, 60 - (time.monotonic() - killed_at)), interval=0.2)
    recovered_in = time.monotonic() - killed_at

    assert recovered_in < 60
    assert IngestBatch.objects.count() == len(sent) == 30
    totals = IngestBatch.objects.aggregate(stored=Sum("stored"), duplicate=Sum("duplicate"))
    assert totals == {"stored": 30 * DOCKS, "duplicate": 0}
    assert PackReading.objects.count() == 30 * DOCKS
    for batch in sent:
        assert PackReading.objects.filter(batch_id=batch.id).count() == DOCKS
    print(f"recovered {recovered_in:.1f} s after the kill")
