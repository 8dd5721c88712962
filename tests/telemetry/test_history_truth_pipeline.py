"""The truth of history with the real worker: a backdated swap recorded through the API closes the
discrepancy its readings opened, a re-sent batch leaves the sample count alone, and a payload with one foreign
dataset stores the gateway's own and quarantines the other. Exact row counts throughout."""

import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from telemetry.models import Discrepancy, IngestBatch, PackReading, QuarantinedRecord
from telemetry.services import gateway_token_create
from tests.conftest import wait_until
from tests.factories import CaseFactory, UserFactory, build_site
from tests.telemetry.payloads import ago, dataset, envelope, pack_record, site_sample

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
INGEST = "/api/v1/ingest/"


def stored(client, token, body):
    """POST ``body`` as the gateway of ``token`` and wait for the worker: (the 202 answer, the batch done)."""
    response = client.post(
        INGEST, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 202, response.content
    batch_id = response.json()["batch"]
    batch = wait_until(
        lambda: IngestBatch.objects.filter(id=batch_id, status__in=["done", "failed"]).first(), timeout=60
    )
    assert batch.status == "done", batch.error
    return response.json(), batch


@pytest.fixture
def site():
    return build_site(cabinets=1, docks=4, pms_id="PMS-83-001", at=ago(days=2))


@pytest.fixture
def token(site):
    return gateway_token_create(site=site, name="gateway")[1]


def test_a_backdated_swap_through_the_api_closes_the_discrepancy_of_readings_already_stored(
    celery_worker_process, client, site, token
):
    stray, old = CaseFactory(serial="STRAY-1"), site.test_cases[(1, 2)]
    times = [ago(minutes=m) for m in (50, 40, 30, 20, 10)]
    body = envelope(dataset("pms", site.pms_id, [pack_record(stray.serial, 2, at) for at in times]))
    _, batch = stored(client, token, body)
    assert (batch.stored, batch.quarantined) == (5, 0)
    discrepancy = Discrepancy.objects.get()
    assert (discrepancy.kind, discrepancy.sample_count) == (Discrepancy.Kind.NOT_INSTALLED, 5)

    engineer = UserFactory(username="fiona", groups=["Field engineer"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=engineer).key}")
    swap = api.post(
        "/api/v1/installations/swap/",
        {
            "position": site.test_docks[(1, 2)].pk,
            "old_serial": old.serial,
            "new_serial": stray.serial,
            "reason": "Swapped an hour ago, logged now",
            "old_component_status": "faulty",
            "at": ago(hours=1).isoformat(),
            "confirm_incomplete": True,
        },
        format="json",
    )

    assert swap.status_code == 201, swap.json()
    discrepancy.refresh_from_db()
    assert discrepancy.status == Discrepancy.Status.RESOLVED
    assert (discrepancy.resolved_with_id, discrepancy.resolved_by) == (swap.json()["id"], engineer)
    # Readings after the swap are where the records now put the case: no new discrepancy.
    _, later = stored(
        client, token, envelope(dataset("pms", site.pms_id, [pack_record(stray.serial, 2, ago())]))
    )
    assert later.stored == 1
    assert PackReading.objects.filter(case=stray, dock=2).count() == 6
    assert not Discrepancy.objects.filter(status=Discrepancy.Status.OPEN).exists()


def test_a_resent_batch_leaves_the_sample_count_unchanged(celery_worker_process, client, site, token):
    stray = CaseFactory(serial="STRAY-2")
    times = [ago(minutes=m) for m in range(30, 0, -2)]  # 15 readings
    body = envelope(dataset("pms", site.pms_id, [pack_record(stray.serial, 3, at) for at in times]))

    _, first = stored(client, token, body)
    _, again = stored(client, token, body)

    assert (first.stored, first.duplicate) == (15, 0)
    assert (again.stored, again.duplicate) == (0, 15)
    assert PackReading.objects.filter(case=stray).count() == 15
    discrepancy = Discrepancy.objects.get()
    assert (discrepancy.sample_count, discrepancy.first_seen, discrepancy.last_seen) == (
        15,
        times[0],
        times[-1],
    )


def test_a_mixed_payload_stores_the_own_dataset_and_quarantines_the_foreign_one(
    celery_worker_process, client, site, token
):
    other = build_site(cabinets=1, docks=4, pms_id="PMS-84-001", at=ago(days=2))
    own = json.loads(site_sample(site, ago(minutes=1)))["datasets"][0]
    foreign = json.loads(site_sample(other, ago(minutes=1)))["datasets"][0]

    answer, batch = stored(client, token, envelope(own, foreign))

    assert answer["rejected"] == ["datasets[1].pms.id: 'PMS-84-001' is not PMS-83-001, this gateway's PMS"]
    assert (batch.stored, batch.duplicate, batch.quarantined) == (4, 0, 4)
    assert PackReading.objects.filter(site=site).count() == 4
    assert not PackReading.objects.filter(site=other).exists()
    reasons = set(QuarantinedRecord.objects.filter(batch=batch).values_list("reason", flat=True))
    assert reasons == {f"datasets[1].pms.id: 'PMS-84-001' is not the PMS of {site.name}"}
    assert QuarantinedRecord.objects.filter(batch=batch).count() == 4
