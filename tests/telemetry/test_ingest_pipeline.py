"""The whole path with a real Celery worker: HTTP -> landing table -> task -> hypertables, and recovery."""

from datetime import timedelta

import pytest
from django.db import OperationalError

from telemetry import services
from telemetry.models import IngestBatch, LateRollupMinute, PackReading, PackRollup1h, PackRollup1m, PackState
from telemetry.rollups import TAKE_LATE_SQL
from telemetry.services import gateway_token_create, ingest_payload
from tests.conftest import wait_until
from tests.factories import build_site
from tests.telemetry.payloads import ago, dataset, envelope, site_sample

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def finished(batch_id):
    batch = IngestBatch.objects.get(id=batch_id)
    return batch if batch.status in (IngestBatch.Status.DONE, IngestBatch.Status.FAILED) else None


def test_a_posted_sample_is_stored_by_the_worker_and_a_resend_counts_as_duplicates(
    celery_worker_process, client
):
    site = build_site(docks=8, at=ago(days=1))
    _, raw_token = gateway_token_create(site=site, name="gateway")
    body = site_sample(site, ago(minutes=1))
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_token}"}

    first = client.post("/api/v1/ingest/", data=body, content_type="application/json", **headers)
    resent = client.post("/api/v1/ingest/", data=body, content_type="application/json", **headers)

    assert first.status_code == resent.status_code == 202
    done = wait_until(lambda: finished(first.json()["batch"]))
    again = wait_until(lambda: finished(resent.json()["batch"]))
    assert (done.status, done.stored, done.duplicate, done.quarantined) == ("done", 8, 0, 0)
    assert (again.status, again.stored, again.duplicate) == ("done", 0, 8)
    assert PackReading.objects.filter(site=site).count() == 8
    assert PackState.objects.filter(site=site).count() == 8


def test_a_batch_that_fails_mid_way_stays_pending_and_the_sweep_gets_it_stored_exactly_once(
    celery_worker_process, other_session, settings
):
    site = build_site(docks=8, at=ago(days=1))
    at = ago(minutes=3)
    # Half the sample already arrived in an earlier payload; the batch holds the whole sample.
    ingest_payload(raw=site_sample(site, at, docks=range(1, 5)), site=site)
    with other_session.cursor() as cursor:
        cursor.execute("LOCK TABLE telemetry_packstate IN ACCESS EXCLUSIVE MODE")
    # Landed while the broker was unreachable: never queued.
    batch = IngestBatch.objects.create(payload=site_sample(site, at), site=site, enqueued_at=None)
    settings.INGEST_LOCK_TIMEOUT = "300ms"

    with pytest.raises(OperationalError, match="lock timeout"):
        services.batch_process(batch_id=batch.id)

    batch.refresh_from_db()
    assert (batch.status, batch.attempts, batch.stored) == ("pending", 1, 0)
    assert "lock timeout" in batch.error
    assert PackReading.objects.count() == 4  # the failed attempt's COPY was rolled back

    other_session.rollback()
    settings.INGEST_SWEEP_AFTER = timedelta(0)  # its retry is overdue (the test called it, not a task)
    assert services.batches_requeue_stale() == 1
    done = wait_until(lambda: finished(batch.id))

    assert (done.status, done.stored, done.duplicate, done.attempts, done.error) == ("done", 4, 4, 2, "")
    assert PackReading.objects.count() == 8
    assert services.batch_process(batch_id=batch.id) == []  # a done batch is left alone
    assert PackReading.objects.count() == 8


def test_a_batch_of_late_readings_does_not_wait_for_a_refresh_taking_the_same_minute(
    other_session, settings
):
    site = build_site(docks=4, at=ago(days=2))
    yesterday = ago(days=1)
    ingest_payload(raw=site_sample(site, yesterday, docks=range(1, 3)), site=site)
    with other_session.cursor() as cursor:  # a late rollups' refresh, under way, has taken that minute
        cursor.execute(TAKE_LATE_SQL, {"limit": 10})
        assert len(cursor.fetchall()) == 1
    batch = IngestBatch.objects.create(payload=site_sample(site, yesterday), site=site)
    settings.INGEST_LOCK_TIMEOUT = "300ms"

    [processed] = services.batch_process(batch_id=batch.id)

    assert (processed.batch.stored, processed.batch.duplicate) == (2, 2)
    # Noted again, for the refresh after the one under way (whose taking is not committed yet).
    assert LateRollupMinute.objects.count() == 2


def test_the_sweep_leaves_recently_queued_and_finished_batches_alone(settings):
    site = build_site(docks=4, at=ago(days=1))
    payload = envelope(dataset("pms", site.pms_id, []))
    IngestBatch.objects.create(payload=payload, site=site, status=IngestBatch.Status.DONE, enqueued_at=None)
    IngestBatch.objects.create(payload=payload, site=site, enqueued_at=ago(seconds=1))

    assert services.batches_requeue_stale() == 0


def test_a_batch_whose_envelope_is_invalid_is_failed_with_the_reason_and_not_retried():
    batch = IngestBatch.objects.create(payload=b'{"datasets": 5}', enqueued_at=None)

    assert services.batch_process(batch_id=batch.id) == []

    batch.refresh_from_db()
    assert (batch.status, batch.error) == ("failed", "datasets: expected `array`, got `int`")
    assert services.batches_requeue_stale() == 0


def test_a_gateway_backlog_older_than_the_beat_margin_gets_its_rollups_from_the_worker(
    celery_worker_process, client
):
    site = build_site(docks=4, at=ago(days=2))
    _, raw_token = gateway_token_create(site=site, name="gateway")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_token}"}
    yesterday = ago(days=1)  # the gateway was offline; beat only refreshes the last minutes and hours

    response = client.post(
        "/api/v1/ingest/", data=site_sample(site, yesterday), content_type="application/json", **headers
    )

    assert response.status_code == 202
    wait_until(lambda: finished(response.json()["batch"]))
    rollup = wait_until(lambda: PackRollup1h.objects.filter(site=site).count() == 4)
    assert rollup
    assert PackRollup1m.objects.filter(site=site, bucket__lte=yesterday).count() == 4
    assert not LateRollupMinute.objects.exists()
