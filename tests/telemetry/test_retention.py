"""Retention drops whole raw-reading chunks past the configured age and keeps every rollup."""

from datetime import UTC, datetime, timedelta

import pytest

from assets.models import Kind
from telemetry.models import IngestBatch, MpptReading, PackReading, PackRollup1h, PackRollup1m
from telemetry.retention import drop_old_batches, drop_old_readings
from telemetry.rollups import refresh_all_rollups
from tests.factories import CaseFactory, ComponentFactory, SiteFactory
from tests.telemetry.test_rollups import pack_reading

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_readings_older_than_the_retention_age_are_dropped_and_their_rollups_kept(settings):
    settings.TELEMETRY_RAW_RETENTION_DAYS = 90
    site, case = SiteFactory(), CaseFactory()
    mppt = ComponentFactory(kind=Kind.MPPT, configured_id="IT6415AD-09-001")
    old = NOW - timedelta(days=100)
    recent = NOW - timedelta(days=89)
    for at in (old, old + timedelta(seconds=5), recent):
        pack_reading(case, site, at, volts=54.0, cells=[3.9] * 14)
    for at in (old, recent):
        MpptReading.objects.create(
            device=mppt,
            site=site,
            time=at,
            utc_offset_minutes=420,
            pv_volts=[90.0, 90.0],
            pv_amps=[5.0, 5.0],
            batt_volts=54.0,
            batt_amps=3.0,
            load_volts=[48.0, 48.0],
            load_amps=[1.0, 1.0],
        )
    refresh_all_rollups(start=old, end=recent + timedelta(minutes=1))

    dropped = drop_old_readings(now=NOW)

    assert dropped["telemetry_packreading"] == 1
    assert dropped["telemetry_mpptreading"] == 1
    assert list(PackReading.objects.values_list("time", flat=True)) == [recent]
    assert list(MpptReading.objects.values_list("time", flat=True)) == [recent]
    assert PackRollup1m.objects.get(bucket=old).n == 2
    assert set(PackRollup1h.objects.values_list("bucket", flat=True)) == {
        old.replace(minute=0),
        recent.replace(minute=0),
    }


@pytest.mark.django_db
def test_nothing_is_dropped_while_every_reading_is_younger_than_the_retention_age(settings):
    settings.TELEMETRY_RAW_RETENTION_DAYS = 90
    site, case = SiteFactory(), CaseFactory()
    pack_reading(case, site, NOW - timedelta(days=89, hours=23), volts=54.0, cells=[3.9] * 14)

    assert drop_old_readings(now=NOW)["telemetry_packreading"] == 0
    assert PackReading.objects.count() == 1


@pytest.mark.django_db
def test_landed_payloads_of_batches_stored_whole_are_deleted_after_the_retention_age(settings):
    settings.INGEST_BATCH_RETENTION_DAYS = 7
    old, recent = NOW - timedelta(days=8), NOW - timedelta(days=6)

    def landed(received_at, status, quarantined=0):
        batch = IngestBatch.objects.create(payload=b"{}", status=status, quarantined=quarantined)
        IngestBatch.objects.filter(id=batch.id).update(received_at=received_at)
        return batch.id

    stored_long_ago = landed(old, IngestBatch.Status.DONE)
    kept = {
        landed(recent, IngestBatch.Status.DONE),
        landed(old, IngestBatch.Status.DONE, quarantined=1),  # its quarantined records need their batch
        landed(old, IngestBatch.Status.FAILED),
        landed(old, IngestBatch.Status.PENDING),
    }

    assert drop_old_batches(now=NOW) == 1

    assert not IngestBatch.objects.filter(id=stored_long_ago).exists()
    assert set(IngestBatch.objects.values_list("id", flat=True)) == kept
