"""A queue per concern: each task lands on its queue, and with the workers `make run` starts (one for ingest,
one for the rest), a slow rollup and a flood of alarm evaluations never hold up ingest."""

import time
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from alarms.services import SITE_LOCK_NAMESPACE
from pms_site.celery import app as celery_app
from telemetry.models import IngestBatch, PackReading
from tests.conftest import wait_until
from tests.factories import build_site
from tests.telemetry.payloads import ago, site_sample

DOCKS = 4
QUEUE_OF_TASK = {
    "telemetry.process_batch": "ingest",
    "telemetry.requeue_stale_batches": "ingest",
    "alarms.evaluate_sites": "alarms",
    "alarms.check_staleness": "alarms",
    "telemetry.refresh_rollups_1m": "rollups",
    "telemetry.refresh_rollups_1h": "rollups",
    "telemetry.refresh_late_rollups": "rollups",
    "telemetry.drop_old_readings": "rollups",
    "telemetry.drop_old_batches": "rollups",
    "telemetry.reattribute_readings": "rollups",
    "telemetry.requeue_stale_reattributions": "rollups",
    "analytics.refresh_analytics": "rollups",
    "telemetry.worker_heartbeat": "celery",
    "stock.check_spare_levels": "celery",
}
# The worker programs of scripts/run.sh on a 2-core machine (the ingest pool is half the cores).
INGEST_WORKER = ("-Q", "ingest", "--concurrency=1")
OTHER_WORKER = ("-Q", "alarms,rollups,celery", "--concurrency=2")


def project_tasks():
    celery_app.loader.import_default_modules()
    return {name for name in celery_app.tasks if not name.startswith("celery.")}


def test_every_task_of_the_project_has_its_queue_in_the_table():
    assert project_tasks() == set(QUEUE_OF_TASK)


@pytest.mark.worker
def test_each_task_lands_on_its_queue(stack):
    stack.start_redis()
    channel = stack.app.connection_for_write().default_channel
    for queue in stack.app.amqp.queues.values():  # every queue declared and bound, as workers do
        queue(channel).declare()
    queues = set(QUEUE_OF_TASK.values())
    assert set(stack.app.amqp.queues) == queues

    for name in sorted(QUEUE_OF_TASK):
        stack.app.send_task(name)
        landed = {queue: channel.client.lrange(queue, 0, -1) for queue in queues}

        assert {queue: len(messages) for queue, messages in landed.items() if messages} == {
            QUEUE_OF_TASK[name]: 1
        }, name
        assert name.encode() in landed[QUEUE_OF_TASK[name]][0]
        channel.client.delete(*queues)


@pytest.mark.slow
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(180)
def test_a_slow_rollup_and_a_flood_of_alarm_evaluations_never_hold_up_ingest(stack, other_session):
    sites = [build_site(docks=DOCKS, at=ago(days=1)) for _ in range(2)]
    stack.start_redis()
    stack.start_worker("ingest", *INGEST_WORKER)
    stack.start_worker("other", *OTHER_WORKER)
    redis = stack.app.connection_for_write().default_channel.client
    # The rollups' tables locked, as a long refresh or a migration would hold them; the sites' alarm locks
    # held, as a slow evaluation would: every task of the other worker blocks.
    with other_session.cursor() as cursor:
        cursor.execute("LOCK TABLE telemetry_packrollup1m, telemetry_devicerollup1m IN ACCESS EXCLUSIVE MODE")
        for site in sites:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SITE_LOCK_NAMESPACE, site.id])
    stack.app.send_task("telemetry.refresh_rollups_1m")
    stack.app.send_task("telemetry.refresh_rollups_1h")
    for _ in range(100):
        for site in sites:
            stack.app.send_task("alarms.evaluate_sites", args=[[site.id]])
    queued = 2 + 2 * 100

    def waiting():
        return redis.llen("rollups") + redis.llen("alarms")

    wait_until(lambda: waiting() == queued - 2, timeout=30)  # both pool slots of the other worker stuck

    began = time.monotonic()
    sent = []
    for number in range(20):
        site = sites[number % 2]
        at = ago(minutes=5) + timedelta(seconds=5 * number)
        batch = IngestBatch.objects.create(
            payload=site_sample(site, at), site=site, enqueued_at=timezone.now()
        )
        stack.publish(batch)
        sent.append(batch)
    wait_until(lambda: not IngestBatch.objects.exclude(status="done").exists(), timeout=30, interval=0.2)
    ingested_in = time.monotonic() - began

    assert waiting() >= queued - 2, "the other worker is still stuck, its tasks still waiting"
    assert IngestBatch.objects.aggregate(Sum("stored")) == {"stored__sum": 20 * DOCKS}
    assert PackReading.objects.count() == 20 * DOCKS
    print(f"20 batches stored in {ingested_in:.1f} s with the other worker blocked")

    other_session.rollback()
    wait_until(lambda: redis.llen("alarms") == 0, timeout=60, interval=0.5)
