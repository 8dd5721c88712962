"""The alarm list, and thresholds and alarms in the admin."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alarms.models import Alarm, AlarmKind, AlarmThreshold, Severity
from alarms.services import pack_alarms_evaluate
from tests.alarms.helpers import raised_alarm, report, seconds
from tests.factories import UserFactory, build_site

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["Manager", "Field engineer", "Warehouse"])
def test_every_role_sees_the_active_alarms_with_site_local_times(client, site, role):
    active = raised_alarm(site, site.cases[0])
    cleared = raised_alarm(site, site.cases[1], kind=AlarmKind.FET_OPEN, cleared=True)
    client.force_login(UserFactory(groups=[role]))

    page = client.get(reverse("alarms:list")).content.decode()

    assert active.message in page
    assert cleared.message not in page
    assert "2026-11-25 15:00 +07" in page  # raised at 08:00:30 UTC, shown in Asia/Bangkok
    assert ("Acknowledge</button>" in page) == (role != "Warehouse")


def test_the_list_filters_cleared_alarms_of_one_site(client, site):
    active = raised_alarm(site, site.cases[0])
    cleared = raised_alarm(site, site.cases[1], kind=AlarmKind.FET_OPEN, cleared=True)
    client.force_login(UserFactory(groups=["Manager"]))

    page = client.get(reverse("alarms:list"), {"state": "cleared", "site": site.pk}).content.decode()

    assert cleared.message in page
    assert active.message not in page


def test_the_filters_are_labelled_with_plain_any_choices_and_filter_by_acknowledgement(client, site):
    waiting = raised_alarm(site, site.cases[0])
    seen = raised_alarm(site, site.cases[1], kind=AlarmKind.FET_OPEN)
    seen.acknowledged_at = seen.raised_at
    seen.save()
    client.force_login(UserFactory(groups=["Manager"]))
    page = client.get(reverse("alarms:list")).content.decode()
    for label in ["Site", "State", "Severity", "Alarm", "Acknowledgement"]:
        assert f">{label}</label>" in page
    for choice in ["All sites", "Any severity", "Any alarm", "Acknowledged or not"]:
        assert f'<option value="" selected>{choice}</option>' in page
    assert "---------" not in page and "Unknown" not in page
    page = client.get(reverse("alarms:list"), {"acknowledged": "no"}).content.decode()
    assert waiting.message in page and seen.message not in page
    page = client.get(reverse("alarms:list"), {"acknowledged": "yes"}).content.decode()
    assert seen.message in page and waiting.message not in page


def test_a_bad_filter_value_is_explained_not_a_500(client, site):
    client.force_login(UserFactory(groups=["Manager"]))
    response = client.get(reverse("alarms:list"), {"state": "exploded"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_the_alarm_list_needs_login_and_a_role(client):
    assert client.get(reverse("alarms:list")).status_code == 302
    client.force_login(UserFactory())
    assert client.get(reverse("alarms:list")).status_code == 403


def change_threshold(client, threshold, **fields):
    data = {
        "kind": threshold.kind,
        "site": threshold.site_id or "",
        "enabled": "on" if threshold.enabled else "",
        "severity": threshold.severity,
        "raise_value": threshold.raise_value,
        "clear_value": threshold.clear_value,
        "raise_after_seconds": threshold.raise_after_seconds,
        "clear_after_seconds": threshold.clear_after_seconds,
    } | fields
    return client.post(reverse("admin:alarms_alarmthreshold_change", args=[threshold.pk]), data)


def test_li_ion_defaults_exist_for_every_kind():
    defaults = {t.kind: t for t in AlarmThreshold.objects.filter(site=None)}
    assert set(defaults) == set(AlarmKind)
    over = defaults[AlarmKind.CELL_OVER_VOLTAGE]
    assert (float(over.raise_value), float(over.clear_value)) == (4.2, 4.15)


def test_a_threshold_edited_in_admin_takes_effect(admin_client, site):
    threshold = AlarmThreshold.objects.get(kind=AlarmKind.PACK_TEMPERATURE, site=None)
    response = change_threshold(
        admin_client, threshold, raise_value="60", clear_value="57", severity="warning"
    )
    assert response.status_code == 302

    for at in (0, 30):
        report(site.cases[0], site, seconds(at), temps=[58, 30, 30])
        pack_alarms_evaluate(site_ids=[site.id])
    assert not Alarm.objects.exists()

    for at in (60, 90):
        report(site.cases[0], site, seconds(at), temps=[61, 30, 30])
        pack_alarms_evaluate(site_ids=[site.id])
    assert Alarm.objects.get().severity == Severity.WARNING


def test_admin_refuses_a_clear_value_on_the_wrong_side_of_the_raise_value(admin_client):
    threshold = AlarmThreshold.objects.get(kind=AlarmKind.CELL_UNDER_VOLTAGE, site=None)
    response = change_threshold(admin_client, threshold, clear_value="2.900")
    assert response.status_code == 200
    assert "The clear value must be on the safe side of the raise value" in response.content.decode()
    threshold.refresh_from_db()
    assert float(threshold.clear_value) == 3.1


def test_admin_refuses_a_second_global_threshold_of_one_kind(admin_client):
    data = {
        "kind": AlarmKind.FET_OPEN,
        "site": "",
        "enabled": "on",
        "severity": "alarm",
        "raise_value": "2",
        "clear_value": "0",
        "raise_after_seconds": "0",
        "clear_after_seconds": "0",
    }
    response = admin_client.post(reverse("admin:alarms_alarmthreshold_add"), data)
    assert response.status_code == 200
    assert AlarmThreshold.objects.filter(kind=AlarmKind.FET_OPEN).count() == 1


def test_the_admin_action_acknowledges_the_selected_alarms(client, site):
    manager = UserFactory(groups=["Manager"], is_staff=True)
    alarms = [raised_alarm(site, case) for case in site.cases[:2]]
    client.force_login(manager)

    response = client.post(
        reverse("admin:alarms_alarm_changelist"),
        {"action": "acknowledge", "_selected_action": [alarm.pk for alarm in alarms]},
    )

    assert response.status_code == 302
    assert set(Alarm.objects.values_list("acknowledged_by", flat=True)) == {manager.pk}


def test_warehouse_staff_get_no_acknowledge_action_in_admin(client, site):
    alarm = raised_alarm(site, site.cases[0])
    client.force_login(UserFactory(groups=["Warehouse"], is_staff=True))

    changelist = client.get(reverse("admin:alarms_alarm_changelist"))
    client.post(
        reverse("admin:alarms_alarm_changelist"), {"action": "acknowledge", "_selected_action": [alarm.pk]}
    )

    assert changelist.status_code == 200
    assert 'value="acknowledge"' not in changelist.content.decode()
    alarm.refresh_from_db()
    assert alarm.acknowledged_at is None


def test_the_alarm_list_takes_the_same_queries_for_4_or_10_alarms(client):
    client.force_login(UserFactory(groups=["Manager"]))

    def queries_for(count):
        site = build_site(docks=count)
        for dock in range(1, count + 1):
            raised_alarm(site, site.test_cases[(1, dock)])
        with CaptureQueriesContext(connection) as queries:
            page = client.get(reverse("alarms:list"), {"site": site.pk})
        assert page.content.decode().count("Acknowledge</button>") == count
        return len(queries)

    assert queries_for(4) == queries_for(10)


def test_a_global_threshold_cannot_be_deleted_but_a_site_override_can(admin_client, site):
    default = AlarmThreshold.objects.get(kind=AlarmKind.FET_OPEN, site=None)
    override = AlarmThreshold.objects.create(kind=AlarmKind.FET_OPEN, site=site, raise_value=2, clear_value=0)

    refused = admin_client.post(
        reverse("admin:alarms_alarmthreshold_delete", args=[default.pk]), {"post": "yes"}
    )
    admin_client.post(reverse("admin:alarms_alarmthreshold_delete", args=[override.pk]), {"post": "yes"})

    assert refused.status_code == 403
    assert list(AlarmThreshold.objects.filter(kind=AlarmKind.FET_OPEN)) == [default]
