"""What the pages read, and what the database refuses."""

import pytest
from django.db import IntegrityError, transaction

from alarms import selectors
from alarms.models import Alarm, AlarmKind, Severity
from tests.alarms.helpers import raised_alarm
from tests.factories import build_site

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("on_case", [True, False], ids=["pack alarm", "site alarm"])
def test_the_database_allows_one_open_alarm_per_site_case_and_kind(site, on_case):
    case = site.cases[0] if on_case else None
    raised_alarm(site, case, kind=AlarmKind.SITE_STALE, cleared=True)
    raised_alarm(site, case, kind=AlarmKind.SITE_STALE)

    with pytest.raises(IntegrityError, match="alarm_one_open_per_site_case_kind"), transaction.atomic():
        raised_alarm(site, case, kind=AlarmKind.SITE_STALE)


def test_other_cases_and_kinds_have_their_own_open_alarm(site):
    raised_alarm(site, site.cases[0])
    raised_alarm(site, site.cases[1])
    raised_alarm(site, site.cases[0], kind=AlarmKind.FET_OPEN)
    assert Alarm.objects.filter(state=Alarm.State.ACTIVE).count() == 3


def test_the_database_refuses_times_that_do_not_match_the_state(site):
    alarm = raised_alarm(site, site.cases[0])
    alarm.cleared_at = alarm.raised_at
    with pytest.raises(IntegrityError, match="alarm_times_match_state"), transaction.atomic():
        alarm.save()


def test_site_alarm_counts_counts_active_alarms_by_severity_for_all_sites_in_one_query(
    site, django_assert_num_queries
):
    quiet, warned = build_site(docks=4), build_site(docks=4)
    raised_alarm(site, site.cases[0])
    raised_alarm(site, site.cases[1], kind=AlarmKind.CELL_DELTA, severity=Severity.WARNING)
    raised_alarm(site, kind=AlarmKind.SITE_STALE)
    raised_alarm(site, site.cases[2], cleared=True)
    raised_alarm(warned, warned.test_cases[(1, 1)], kind=AlarmKind.CELL_DELTA, severity=Severity.WARNING)

    with django_assert_num_queries(1):
        counts = selectors.site_alarm_counts()

    assert counts == {
        site.pk: selectors.AlarmCounts(alarms=2, warnings=1),
        warned.pk: selectors.AlarmCounts(alarms=0, warnings=1),
    }
    assert counts[site.pk].worst == Severity.ALARM and counts[warned.pk].worst == Severity.WARNING
    assert quiet.pk not in counts and selectors.AlarmCounts().worst is None


def test_case_alarm_counts_give_each_dock_its_worst_state(site):
    raised_alarm(site, site.cases[0], kind=AlarmKind.CELL_DELTA, severity=Severity.WARNING)
    raised_alarm(site, site.cases[0], kind=AlarmKind.FET_OPEN)
    raised_alarm(site, site.cases[1], kind=AlarmKind.CELL_DELTA, severity=Severity.WARNING)
    raised_alarm(site, kind=AlarmKind.SITE_STALE)

    counts = selectors.case_alarm_counts(site=site)

    assert {case_id: c.worst for case_id, c in counts.items()} == {
        site.cases[0].pk: Severity.ALARM,
        site.cases[1].pk: Severity.WARNING,
    }


def test_active_alarms_of_a_site_put_alarms_before_warnings(site):
    warning = raised_alarm(site, site.cases[0], kind=AlarmKind.CELL_DELTA, severity=Severity.WARNING)
    alarm = raised_alarm(site, site.cases[1])
    raised_alarm(site, site.cases[2], kind=AlarmKind.FET_OPEN, cleared=True)
    assert list(selectors.active_alarms_for_site(site=site)) == [alarm, warning]


def test_a_case_history_follows_it_across_sites_and_keeps_cleared_alarms(site):
    case = site.cases[0]
    elsewhere = build_site(docks=4)
    old = raised_alarm(site, case, cleared=True)
    new = raised_alarm(elsewhere, case, kind=AlarmKind.FET_OPEN)
    raised_alarm(site, site.cases[1])

    assert list(selectors.alarms_for_case(case=case)) == [new, old]
    assert set(selectors.alarms_for_site(site=site)) == {old, Alarm.objects.get(case=site.cases[1])}
