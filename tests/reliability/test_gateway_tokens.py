"""Gateway tokens: revocation at once, rotation with an overlap, last use (when, from where) in the admin."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from telemetry.models import GatewayToken
from telemetry.tokens import gateway_token_create, gateway_token_revoke, gateway_token_rotate
from tests.factories import build_site
from tests.telemetry.payloads import ago, site_sample

pytestmark = pytest.mark.django_db
URL = "/api/v1/ingest/"


@pytest.fixture
def site():
    return build_site(docks=4, at=ago(days=2))


def post(client, site, raw_token, **headers):
    return client.post(
        URL,
        data=site_sample(site, ago(minutes=1)),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_token}",
        **headers,
    )


def test_a_revoked_token_is_refused_from_the_next_request_on(client, site):
    token, raw_token = gateway_token_create(site=site, name="gateway")
    assert post(client, site, raw_token).status_code == 202

    gateway_token_revoke(token=token)
    response = post(client, site, raw_token)

    assert response.status_code == 401
    assert response.json()["detail"].startswith("This gateway token was revoked at ")


def test_an_unknown_token_is_refused(client, site):
    response = post(client, site, "no-such-token")
    assert (response.status_code, response.json()["detail"]) == (401, "Unknown gateway token.")


def test_a_rotated_token_works_until_the_overlap_ends_and_its_successor_from_the_start(
    client, site, admin_user
):
    old, old_raw = gateway_token_create(site=site, name="gateway")

    new, new_raw = gateway_token_rotate(token=old, overlap=timedelta(hours=1), user=admin_user)

    old.refresh_from_db()
    assert timedelta(minutes=59) < old.expires_at - timezone.now() <= timedelta(hours=1)
    assert (new.site, new.created_by) == (site, admin_user)
    assert new.name.startswith("gateway (rotated ")
    assert post(client, site, old_raw).status_code == 202
    assert post(client, site, new_raw).status_code == 202

    GatewayToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused = post(client, site, old_raw)

    assert refused.status_code == 401
    assert "expired at" in refused.json()["detail"] and "use its successor" in refused.json()["detail"]
    assert post(client, site, new_raw).status_code == 202


def test_a_token_with_the_longest_name_can_be_rotated(site):
    token, _ = gateway_token_create(site=site, name="g" * 100)

    successor, _ = gateway_token_rotate(token=token, overlap=timedelta(minutes=5))

    assert successor.name.startswith("g" * 60 + " (rotated ") and len(successor.name) <= 100


def test_a_revoked_token_cannot_be_rotated(site):
    token, _ = gateway_token_create(site=site, name="gateway")
    gateway_token_revoke(token=token)
    with pytest.raises(ValidationError, match="is revoked; create a new token"):
        gateway_token_rotate(token=token, overlap=timedelta(hours=1))


def test_last_use_is_written_at_most_once_a_minute(client, site):
    token, raw_token = gateway_token_create(site=site, name="gateway")

    with CaptureQueriesContext(connection) as first:
        post(client, site, raw_token)
    token.refresh_from_db()
    used_at = token.last_used_at
    with CaptureQueriesContext(connection) as second:
        post(client, site, raw_token, REMOTE_ADDR="10.0.0.9")
    token.refresh_from_db()

    updates = [query["sql"] for query in first.captured_queries if query["sql"].startswith("\nUPDATE")]
    assert len(updates) == 1
    assert not [query for query in second.captured_queries if query["sql"].startswith("\nUPDATE")]
    assert (token.last_used_at, token.last_used_from) == (used_at, "127.0.0.1")
    assert timezone.now() - used_at < timedelta(seconds=10)

    GatewayToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    post(client, site, raw_token, REMOTE_ADDR="10.0.0.9")
    token.refresh_from_db()

    assert token.last_used_from == "10.0.0.9"
    assert timezone.now() - token.last_used_at < timedelta(seconds=10)


@pytest.mark.parametrize(
    ("num_proxies", "forwarded_for", "address"),
    [
        (0, "203.0.113.7", "127.0.0.1"),  # no trusted proxy: the header is the client's word only
        (1, "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # what the one trusted proxy saw
        (1, "not-an-address", None),
    ],
)
def test_last_used_from_trusts_x_forwarded_for_only_as_far_as_configured(
    client, site, settings, num_proxies, forwarded_for, address
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    token, raw_token = gateway_token_create(site=site, name="gateway")

    assert post(client, site, raw_token, HTTP_X_FORWARDED_FOR=forwarded_for).status_code == 202

    token.refresh_from_db()
    assert token.last_used_from == address


def test_the_admin_shows_last_use_and_rotates_showing_the_new_token_once(admin_client, client, site):
    token, raw_token = gateway_token_create(site=site, name="roof")
    post(client, site, raw_token)

    listing = admin_client.get("/admin/telemetry/gatewaytoken/").content.decode()
    response = admin_client.post(
        "/admin/telemetry/gatewaytoken/",
        {"action": "rotate", "_selected_action": [token.pk]},
        follow=True,
    )

    assert "127.0.0.1" in listing and "Last used at" in listing
    page = response.content.decode()
    successor = GatewayToken.objects.exclude(pk=token.pk).get()
    raw_successor = page.split(f"Token for {successor.name}: ")[1].split(" - copy it now")[0]
    assert post(client, site, raw_successor).status_code == 202
    assert post(client, site, raw_token).status_code == 202  # during the hour of overlap
    assert raw_successor not in admin_client.get("/admin/telemetry/gatewaytoken/").content.decode()


def test_the_admin_revokes_at_once(admin_client, client, site):
    token, raw_token = gateway_token_create(site=site, name="roof")

    response = admin_client.post(
        "/admin/telemetry/gatewaytoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )

    assert "Revoked 1 token." in response.content.decode()
    assert post(client, site, raw_token).status_code == 401
