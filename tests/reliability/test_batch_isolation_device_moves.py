"""An MPPT or inverter reading is stored only under the site its device was installed at, at the
reading's time: a gateway writes for the devices on its own site then, and the rest is quarantined with
the reason. Here an MPPT moves from site A to site B an hour ago."""

import json
from datetime import timedelta

import pytest

from assets import services as asset_services
from assets.models import Kind
from telemetry.models import MpptReading, QuarantinedRecord
from telemetry.services import ingest_payload
from tests.factories import ComponentFactory, build_site
from tests.telemetry.payloads import BANGKOK, ago, dataset, device_record, envelope, site_sample

pytestmark = pytest.mark.django_db

DEVICE_ID = "MPPT-7"


@pytest.fixture
def move():
    """Sites A and B; the MPPT was on A from a day ago until an hour ago, and is on B since."""
    site_a, site_b = build_site(docks=4, at=ago(days=2)), build_site(docks=4, at=ago(days=2))
    moved_at = ago(hours=1)
    mppt = ComponentFactory(kind=Kind.MPPT, configured_id=DEVICE_ID)
    for site, at in ((site_a, ago(days=1)), (site_b, moved_at)):
        position = asset_services.site_position_get_or_create(site=site, kind=Kind.MPPT, number=1)
        if site is site_b:
            asset_services.component_remove(component=mppt, user=None, reason="Moved to B", at=moved_at)
        asset_services.component_install(
            confirm_incomplete=True, component=mppt, position=position, user=None, at=at
        )
    return site_a, site_b, mppt, moved_at


def payload(site, *moments):
    """The site's PMS sample, then the MPPT's readings at ``moments``: the MPPT dataset is datasets[1]."""
    [pms] = json.loads(site_sample(site, moments[0]))["datasets"]
    return envelope(pms, dataset("mppt", DEVICE_ID, [device_record(moment) for moment in moments]))


def stored_sites(mppt):
    return dict(MpptReading.objects.filter(device=mppt).values_list("time", "site_id"))


def test_the_old_sites_gateway_writes_for_the_device_only_until_it_moved(move):
    site_a, _, mppt, moved_at = move
    before, after = moved_at - timedelta(minutes=10), moved_at + timedelta(minutes=10)

    result = ingest_payload(raw=payload(site_a, before, after), site=site_a)

    assert (result.stored, result.quarantined) == (4 + 1, 1)
    assert stored_sites(mppt) == {before: site_a.id}
    quarantined = QuarantinedRecord.objects.get()
    assert (quarantined.kind, quarantined.device_id, quarantined.record_index) == ("mppt", DEVICE_ID, 1)
    assert quarantined.reason == (
        f"datasets[1].mppt.id: 'MPPT-7' was not installed at {site_a.name} at "
        f"{after.astimezone(BANGKOK).isoformat()}"
    )


def test_the_new_sites_gateway_writes_for_the_device_only_since_it_arrived(move):
    _, site_b, mppt, moved_at = move
    before, after = moved_at - timedelta(minutes=10), moved_at + timedelta(minutes=10)

    result = ingest_payload(raw=payload(site_b, before, after), site=site_b)

    assert (result.stored, result.quarantined) == (4 + 1, 1)
    assert stored_sites(mppt) == {after: site_b.id}
    assert QuarantinedRecord.objects.get().reason.startswith(
        f"datasets[1].mppt.id: 'MPPT-7' was not installed at {site_b.name} at "
    )


def test_readings_from_a_file_are_stored_under_the_site_of_each_readings_time(move):
    site_a, site_b, mppt, moved_at = move
    before, after = moved_at - timedelta(minutes=10), moved_at + timedelta(minutes=10)
    never = ago(days=1, hours=1)  # before it was installed anywhere

    raw = envelope(dataset("mppt", DEVICE_ID, [device_record(moment) for moment in (before, after, never)]))
    result = ingest_payload(raw=raw, site=None)

    assert (result.stored, result.quarantined) == (2, 1)
    assert stored_sites(mppt) == {before: site_a.id, after: site_b.id}
    assert QuarantinedRecord.objects.get().reason == (
        "datasets[0].mppt.id: 'MPPT-7' was not installed on a site at "
        f"{never.astimezone(BANGKOK).isoformat()}"
    )
