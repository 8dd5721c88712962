"""Acknowledging alarms: who may, what is recorded, and what is refused."""

import pytest
from django.test import Client
from django.urls import reverse

from alarms.models import Alarm
from tests.alarms.helpers import T0, raised_alarm, seconds
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alarm(site):
    return raised_alarm(site, site.cases[0])


def acknowledge(client, alarm, **data):
    return client.post(reverse("alarms:acknowledge", args=[alarm.pk]), data)


@pytest.mark.parametrize("role", ["Manager", "Field engineer"])
def test_managers_and_field_engineers_acknowledge_with_their_name_and_the_time(client, alarm, role):
    user = UserFactory(groups=[role])
    client.force_login(user)

    response = acknowledge(client, alarm, next=f"/cases/{alarm.case.serial}/")

    assert response.status_code == 302
    assert response.url == f"/cases/{alarm.case.serial}/"
    alarm.refresh_from_db()
    assert alarm.acknowledged_by == user
    assert alarm.acknowledged_at is not None


def test_warehouse_staff_may_not_acknowledge(client, alarm):
    client.force_login(UserFactory(groups=["Warehouse"]))
    assert acknowledge(client, alarm).status_code == 403
    alarm.refresh_from_db()
    assert alarm.acknowledged_at is None


def test_anonymous_users_may_not_acknowledge(client, alarm):
    assert acknowledge(client, alarm).status_code == 403
    alarm.refresh_from_db()
    assert alarm.acknowledged_at is None


def test_acknowledging_needs_the_csrf_token(alarm):
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(groups=["Manager"]))
    assert acknowledge(client, alarm).status_code == 403
    alarm.refresh_from_db()
    assert alarm.acknowledged_at is None


def test_acknowledging_is_a_post_only(client, alarm):
    client.force_login(UserFactory(groups=["Manager"]))
    assert client.get(reverse("alarms:acknowledge", args=[alarm.pk])).status_code == 405


def test_an_unknown_alarm_is_a_404(client, alarm):
    client.force_login(UserFactory(groups=["Manager"]))
    assert client.post(reverse("alarms:acknowledge", args=[alarm.pk + 1000])).status_code == 404


def test_a_second_acknowledgement_is_refused_and_the_first_is_kept(client, alarm):
    first, second = UserFactory(groups=["Manager"]), UserFactory(groups=["Field engineer"])
    client.force_login(first)
    acknowledge(client, alarm)
    client.force_login(second)

    response = acknowledge(client, alarm, next="/alarms/")
    page = client.get(response.url)

    assert f"already acknowledged by {first}" in page.content.decode()
    alarm.refresh_from_db()
    assert alarm.acknowledged_by == first


def test_a_pending_alarm_cannot_be_acknowledged(client, site):
    pending = Alarm.objects.create(
        site=site,
        kind="site_stale",
        severity="alarm",
        condition_since=T0,
        peak_value=11,
        last_value=11,
        last_seen_at=seconds(10),
    )
    client.force_login(UserFactory(groups=["Manager"]))

    response = acknowledge(client, pending)

    assert "has not been raised yet" in client.get(response.url).content.decode()
    pending.refresh_from_db()
    assert pending.acknowledged_at is None


def test_a_cleared_alarm_can_still_be_acknowledged(client, site):
    cleared = raised_alarm(site, cleared=True)
    client.force_login(UserFactory(groups=["Field engineer"]))
    acknowledge(client, cleared)
    cleared.refresh_from_db()
    assert cleared.acknowledged_at is not None


def test_an_offsite_next_address_is_not_followed(client, alarm):
    client.force_login(UserFactory(groups=["Manager"]))
    response = acknowledge(client, alarm, next="https://evil.example.com/")
    assert response.url == reverse("alarms:list")
