"""POST /api/v1/ingest/: gateway tokens, the envelope check and the landing table (no worker needed)."""

import hashlib
import json

import pytest
from django.core.management import call_command
from django.db import connection

from assets.models import Kind
from telemetry.models import IngestBatch
from telemetry.services import gateway_token_create, gateway_token_revoke
from tests.factories import build_site
from tests.telemetry.payloads import ago, dataset, device_record, envelope, site_sample
from tests.telemetry.test_ingest_core import install_device

pytestmark = pytest.mark.django_db
URL = "/api/v1/ingest/"


@pytest.fixture
def site():
    site = build_site(docks=4, at=ago(days=2))
    site.mppt = install_device(site, Kind.MPPT, f"MPPT-{site.pms_id}", ago(days=2))
    return site


@pytest.fixture
def token(site):
    return gateway_token_create(site=site, name="gateway 1")[1]


def post(client, body, token=None, keyword="Bearer"):
    headers = {"HTTP_AUTHORIZATION": f"{keyword} {token}"} if token else {}
    return client.post(URL, data=body, content_type="application/json", **headers)


@pytest.mark.parametrize("keyword", ["Bearer", "Token"])
def test_a_payload_is_landed_byte_for_byte_and_answered_202_with_the_batch_id(client, site, token, keyword):
    pms_dataset = json.loads(site_sample(site, ago(minutes=1)))["datasets"][0]
    body = envelope(pms_dataset, dataset("mppt", site.mppt.configured_id, [device_record(ago(minutes=1))]))

    response = post(client, body, token, keyword)

    assert response.status_code == 202
    batch = IngestBatch.objects.get(id=response.json()["batch"])
    assert bytes(batch.payload) == body
    assert (batch.status, batch.site_id, batch.source) == ("pending", site.id, "http")


def test_a_landed_body_is_kept_compressed_with_lz4(client, site, token):
    samples = [json.loads(site_sample(site, ago(minutes=m)))["datasets"][0] for m in range(1, 30)]
    body = envelope(*samples)  # large enough to be compressed at all (over 2 kB)

    response = post(client, body, token)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(payload) FROM telemetry_ingestbatch WHERE id = %s",
            [response.json()["batch"]],
        )
        assert cursor.fetchone() == ("lz4",)
    assert bytes(IngestBatch.objects.get(id=response.json()["batch"]).payload) == body


def test_only_a_hash_of_the_token_is_stored(site):
    token, raw_token = gateway_token_create(site=site, name="roof gateway")
    token.refresh_from_db()
    assert token.key_hash == hashlib.sha256(raw_token.encode()).hexdigest()
    assert raw_token not in [str(value) for value in vars(token).values()]


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"HTTP_AUTHORIZATION": "Bearer not-a-token"}, 401), ({"HTTP_AUTHORIZATION": "Bearer"}, 401)],
)
def test_requests_without_a_valid_gateway_token_are_refused(client, site, headers, status):
    response = client.post(
        URL, data=site_sample(site, ago(minutes=1)), content_type="application/json", **headers
    )
    assert response.status_code == status
    assert not IngestBatch.objects.exists()


def test_a_revoked_token_is_refused(client, site):
    token, raw_token = gateway_token_create(site=site, name="old")
    gateway_token_revoke(token=token)
    assert post(client, site_sample(site, ago(minutes=1)), raw_token).status_code == 401


def test_a_logged_in_user_without_a_gateway_token_is_refused(admin_client, site):
    response = admin_client.post(URL, data=site_sample(site, ago(minutes=1)), content_type="application/json")
    assert response.status_code in (401, 403)
    assert not IngestBatch.objects.exists()


def test_datasets_of_another_site_are_landed_with_the_valid_ones_for_the_worker_to_quarantine(
    client, site, token
):
    other = build_site(docks=4, at=ago(days=2))
    foreign_mppt = install_device(other, Kind.MPPT, "MPPT-FOREIGN", ago(days=2))
    body = envelope(
        json.loads(site_sample(site, ago(minutes=1)))["datasets"][0],
        dataset("pms", other.pms_id, []),
        dataset("mppt", foreign_mppt.configured_id, [device_record(ago(minutes=1))]),
    )

    response = post(client, body, token)

    assert response.status_code == 202
    assert bytes(IngestBatch.objects.get(id=response.json()["batch"]).payload) == body
    assert response.json()["rejected"] == [
        f"datasets[1].pms.id: {other.pms_id!r} is not {site.pms_id}, this gateway's PMS"
    ]


def test_a_payload_with_nothing_of_the_tokens_site_is_refused_and_not_landed(client, site, token):
    other = build_site(docks=4, at=ago(days=2))
    body = envelope(json.loads(site_sample(other, ago(minutes=1)))["datasets"][0], dataset("pms", "NOPE", []))

    response = post(client, body, token)

    assert response.status_code == 403
    assert response.json()["detail"] == (
        f"Nothing in this payload is of this gateway's site: datasets[0].pms.id: {other.pms_id!r} is not "
        f"{site.pms_id}, this gateway's PMS; "
        f"datasets[1].pms.id: 'NOPE' is not {site.pms_id}, this gateway's PMS"
    )
    assert not IngestBatch.objects.exists()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"datasets": [', "body: malformed JSON: Input data was truncated"),
        (b"[]", "body: expected `object`, got `array`"),
        (b'{"sets": []}', "body: object missing required field `datasets`"),
        (b'{"datasets": [{"pms": {"id": 7}, "data": []}]}', "datasets[0].pms.id: expected `str`, got `int`"),
        (
            b'{"datasets": [{"data": []}]}',
            "datasets[0]: expected exactly one of pms, mppt, inverter; found none",
        ),
        (
            b'{"datasets": [{"pms": {"id": "P"}, "data": {}}]}',
            "datasets[0].data: expected `array`, got `object`",
        ),
    ],
)
def test_a_malformed_body_is_a_400_naming_the_problem_and_its_place(client, site, token, body, detail):
    response = post(client, body, token)
    assert response.status_code == 400
    assert response.json()["detail"] == detail
    assert not IngestBatch.objects.exists()


def test_an_oversized_body_is_a_413(client, site, token, settings):
    settings.INGEST_MAX_BODY_BYTES = 1000
    body = site_sample(site, ago(minutes=1))
    assert len(body) > 1000

    response = post(client, body, token)

    assert response.status_code == 413
    assert "larger than the limit of 1000 bytes" in response.json()["detail"]
    assert not IngestBatch.objects.exists()


def test_create_gateway_token_command_prints_a_working_token(client, site, capsys):
    call_command("create_gateway_token", site.pms_id, "--name", "cli")
    raw_token = capsys.readouterr().out.strip()
    assert post(client, site_sample(site, ago(minutes=1)), raw_token).status_code == 202
