"""A worker's task takes the batches waiting behind its own, in one transaction; each keeps its own counts
and outcome, and a failure of the group never holds the others back."""

from datetime import timedelta

import pytest
from django.db import OperationalError

from telemetry import services
from telemetry.models import IngestBatch, PackReading, QuarantinedRecord
from tests.conftest import wait_until
from tests.factories import build_site
from tests.telemetry.payloads import ago, dataset, envelope, pack_record, site_sample


def land(payload, site, *, queued=True, received_seconds_ago=0):
    batch = IngestBatch.objects.create(
        payload=payload, site=site, enqueued_at=ago(seconds=1) if queued else None
    )
    IngestBatch.objects.filter(id=batch.id).update(
        received_at=batch.received_at - timedelta(seconds=received_seconds_ago)
    )
    return batch


def outcome(batch):
    batch.refresh_from_db()
    return batch.status, batch.stored, batch.duplicate, batch.quarantined


@pytest.mark.django_db
def test_a_batch_takes_the_waiting_batches_with_it_and_each_keeps_its_own_counts():
    first_site, second_site = build_site(docks=4, at=ago(days=1)), build_site(docks=4, at=ago(days=1))
    at = ago(minutes=2)
    original = land(site_sample(first_site, at), first_site, received_seconds_ago=30)
    other_site = land(site_sample(second_site, at), second_site, received_seconds_ago=20)
    resent = land(site_sample(first_site, at), first_site, received_seconds_ago=10)
    bad_cell = pack_record(first_site.test_cases[(1, 1)].serial, 1, ago(minutes=1), cells=["3.9"] * 13)
    partly_bad = land(envelope(dataset("pms", first_site.pms_id, [bad_cell])), first_site)
    not_an_envelope = land(b'{"datasets": 5}', first_site)
    from_a_file = land(site_sample(second_site, ago(minutes=1)), None, queued=False)

    processed = services.batch_process(batch_id=resent.id, companions=10)

    assert {item.batch.id for item in processed} == {original.id, other_site.id, resent.id, partly_bad.id}
    # Of a reading sent twice, the copy that arrived first is the one stored.
    assert outcome(original) == ("done", 4, 0, 0)
    assert outcome(resent) == ("done", 0, 4, 0)
    assert outcome(other_site) == ("done", 4, 0, 0)
    assert outcome(partly_bad) == ("done", 0, 0, 1)
    assert QuarantinedRecord.objects.get().batch_id == partly_bad.id
    assert PackReading.objects.filter(batch_id=original.id).count() == 4
    assert PackReading.objects.filter(batch_id=other_site.id).count() == 4
    not_an_envelope.refresh_from_db()
    assert (not_an_envelope.status, not_an_envelope.error) == (
        "failed",
        "datasets: expected `array`, got `int`",
    )
    # A file's batches are processed by the ingest_file command itself, never taken along.
    assert outcome(from_a_file) == ("pending", 0, 0, 0)


@pytest.mark.django_db
def test_without_companions_a_batch_is_processed_alone():
    site = build_site(docks=4, at=ago(days=1))
    own = land(site_sample(site, ago(minutes=2)), site)
    waiting = land(site_sample(site, ago(minutes=1)), site)

    [processed] = services.batch_process(batch_id=own.id)

    assert processed.batch.id == own.id
    assert outcome(own) == ("done", 4, 0, 0)
    assert outcome(waiting) == ("pending", 0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_a_batch_another_worker_holds_is_left_to_it_without_waiting(other_session):
    site = build_site(docks=4, at=ago(days=1))
    batch = land(site_sample(site, ago(minutes=1)), site)
    with other_session.cursor() as cursor:
        cursor.execute("SELECT id FROM telemetry_ingestbatch WHERE id = %s FOR UPDATE", [batch.id])

    assert services.batch_process(batch_id=batch.id, companions=10) == []

    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == ("pending", 0)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_when_a_group_meets_an_operational_error_only_its_own_batch_is_retried_and_the_sweep_gets_the_rest(
    celery_worker_process, other_session, settings
):
    site = build_site(docks=4, at=ago(days=1))
    own = land(site_sample(site, ago(minutes=2)), site)
    companion = land(site_sample(site, ago(minutes=1)), site)  # its task has run already: no message left
    with other_session.cursor() as cursor:
        cursor.execute("LOCK TABLE telemetry_packstate IN ACCESS EXCLUSIVE MODE")
    settings.INGEST_LOCK_TIMEOUT = "300ms"

    with pytest.raises(OperationalError, match="lock timeout"):
        services.batch_process(batch_id=own.id, companions=10)
    own.refresh_from_db()
    assert (own.status, own.attempts, own.stored) == ("pending", 1, 0)
    assert "lock timeout" in own.error
    # The companion is not blamed for it, nor queued on its own: it waits, untouched.
    companion.refresh_from_db()
    assert (companion.status, companion.attempts, companion.error) == ("pending", 0, "")
    other_session.rollback()

    settings.INGEST_SWEEP_AFTER = timedelta(0)
    assert services.batches_requeue_stale() == 2  # with one message: its task takes the other along

    wait_until(lambda: outcome(companion)[0] == "done" and outcome(own)[0] == "done")
    assert outcome(own) == ("done", 4, 0, 0)
    assert outcome(companion) == ("done", 4, 0, 0)
    assert PackReading.objects.filter(site=site).count() == 8
