"""The beat task raises and clears "pack stopped reporting" and "site stopped reporting"."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alarms.models import Alarm, AlarmKind, Severity
from alarms.tasks import check_staleness
from assets.services import component_remove
from tests.alarms.helpers import report
from tests.factories import build_site

pytestmark = pytest.mark.django_db


def minutes_ago(n):
    return timezone.now() - timedelta(minutes=n)


@pytest.fixture
def live_site(db):
    """Four packs installed a day ago; the last one has been silent for 6 minutes, the others report now."""
    site = build_site(docks=4, at=minutes_ago(24 * 60))
    site.cases = [site.test_cases[(1, dock)] for dock in range(1, 5)]
    for case in site.cases[:3]:
        report(case, site, minutes_ago(0.1))
    report(site.cases[3], site, minutes_ago(6))
    return site


def open_alarms():
    return set(Alarm.objects.filter(state=Alarm.State.ACTIVE).values_list("kind", "case"))


def test_a_pack_silent_while_its_site_reports_raises_a_warning(live_site):
    check_staleness()

    silent = live_site.cases[3]
    assert open_alarms() == {(AlarmKind.PACK_STALE, silent.pk)}
    alarm = Alarm.objects.get()
    assert alarm.severity == Severity.WARNING
    assert alarm.message.startswith(f"Case {silent.serial}: Pack stopped reporting, 6")


def test_a_pack_that_reports_again_is_cleared(live_site):
    check_staleness()
    report(live_site.cases[3], live_site, minutes_ago(0.1))
    check_staleness()

    alarm = Alarm.objects.get()
    assert alarm.state == Alarm.State.CLEARED
    assert alarm.cleared_at > alarm.raised_at


def test_a_silent_site_raises_one_site_alarm_and_no_pack_alarms(live_site):
    for case in live_site.cases:
        report(case, live_site, minutes_ago(11))
    check_staleness()

    assert open_alarms() == {(AlarmKind.SITE_STALE, None)}
    alarm = Alarm.objects.get()
    assert (alarm.site, alarm.severity) == (live_site, Severity.ALARM)
    assert alarm.message.startswith(f"Site {live_site.pms_id}: Site stopped reporting, 11")


def test_a_pack_alarm_stays_while_the_whole_site_is_silent_and_the_site_alarm_clears_when_it_reports(
    live_site,
):
    check_staleness()
    for case in live_site.cases[:3]:
        report(case, live_site, minutes_ago(11))
    report(live_site.cases[3], live_site, minutes_ago(12))
    check_staleness()
    assert open_alarms() == {(AlarmKind.PACK_STALE, live_site.cases[3].pk), (AlarmKind.SITE_STALE, None)}

    for case in live_site.cases[:3]:
        report(case, live_site, minutes_ago(0))
    check_staleness()
    assert open_alarms() == {(AlarmKind.PACK_STALE, live_site.cases[3].pk)}
    assert Alarm.objects.get(kind=AlarmKind.SITE_STALE).state == Alarm.State.CLEARED


def test_a_site_that_never_reported_raises_nothing(db):
    build_site(docks=4, at=minutes_ago(24 * 60))
    check_staleness()
    assert not Alarm.objects.exists()


def test_a_pack_that_never_reported_counts_from_its_installation(live_site):
    just_installed = build_site(docks=4, at=minutes_ago(2))
    report(just_installed.test_cases[(1, 1)], just_installed, minutes_ago(0))
    long_installed = live_site.cases[3]
    long_installed.telemetry_state.delete()

    check_staleness()

    assert open_alarms() == {(AlarmKind.PACK_STALE, long_installed.pk)}


def test_the_alarm_of_a_pack_taken_off_the_site_is_cleared(live_site):
    check_staleness()
    component_remove(component=live_site.cases[3], user=None, reason="Sent for repair")
    check_staleness()

    assert Alarm.objects.get().state == Alarm.State.CLEARED
