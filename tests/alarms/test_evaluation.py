"""Pack alarms raised and cleared from the latest state, with hysteresis and minimum durations."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alarms.models import Alarm, AlarmKind, AlarmThreshold, Severity
from alarms.selectors import active_alarms_for_site
from alarms.services import pack_alarms_evaluate
from tests.alarms.helpers import HEALTHY_CELLS, T0, pack_cells, report, seconds, set_threshold
from tests.factories import build_site

pytestmark = pytest.mark.django_db

# For each kind: latest-state values at the raise limit, between the limits, and at the clear limit.
CONDITIONS = {
    AlarmKind.CELL_OVER_VOLTAGE: (
        {"cells": pack_cells(4.25)},
        {"cells": pack_cells(4.17)},
        {"cells": pack_cells(4.10)},
    ),
    AlarmKind.CELL_UNDER_VOLTAGE: (
        {"cells": pack_cells(2.90)},
        {"cells": pack_cells(3.05)},
        {"cells": pack_cells(3.15)},
    ),
    AlarmKind.CELL_DELTA: (
        {"cells": [*pack_cells(3.9)[1:], 3.78]},
        {"cells": [*pack_cells(3.9)[1:], 3.82]},
        {"cells": [*pack_cells(3.9)[1:], 3.85]},
    ),
    AlarmKind.PACK_TEMPERATURE: ({"temps": [30, 56, 31]}, {"temps": [30, 52, 31]}, {"temps": [30, 45, 31]}),
    AlarmKind.FET_TEMPERATURE: ({"fet_temps": [85, 40]}, {"fet_temps": [77, 40]}, {"fet_temps": [70, 40]}),
    # One open FET raises; none clears: there is nothing in between.
    AlarmKind.FET_OPEN: ({"fet_open": [2]}, None, {"fet_open": []}),
}


def evaluate(site):
    pack_alarms_evaluate(site_ids=[site.id])


def alarm_of(kind):
    return Alarm.objects.get(kind=kind)


@pytest.mark.parametrize("kind", list(CONDITIONS))
def test_alarm_is_raised_after_the_minimum_duration_held_between_the_limits_and_cleared(site, kind):
    raising, between, clearing = CONDITIONS[kind]
    threshold = AlarmThreshold.objects.get(kind=kind, site=None)
    raise_after, clear_after = threshold.raise_after_seconds, threshold.clear_after_seconds
    case = site.cases[0]

    report(case, site, T0, **raising)
    evaluate(site)
    report(case, site, seconds(raise_after - 5), **raising)
    evaluate(site)
    assert alarm_of(kind).state == Alarm.State.PENDING
    assert not active_alarms_for_site(site=site).filter(kind=kind).exists()

    report(case, site, seconds(raise_after), **raising)
    evaluate(site)
    alarm = alarm_of(kind)
    assert (alarm.state, alarm.raised_at, alarm.condition_since) == (
        Alarm.State.ACTIVE,
        seconds(raise_after),
        T0,
    )
    assert (alarm.site, alarm.case, alarm.severity) == (site, case, threshold.severity)
    assert f"Case {case.serial}" in alarm.message

    t = raise_after
    for _ in range(3 if between else 0):
        t += clear_after
        report(case, site, seconds(t), **between)
        evaluate(site)
        assert alarm_of(kind).state == Alarm.State.ACTIVE, "a value between the limits keeps the alarm"

    report(case, site, seconds(t + 5), **clearing)
    evaluate(site)
    assert alarm_of(kind).state == Alarm.State.ACTIVE, "the clear condition has not lasted long enough yet"
    report(case, site, seconds(t + 5 + clear_after), **clearing)
    evaluate(site)
    alarm = alarm_of(kind)
    assert (alarm.state, alarm.cleared_at) == (Alarm.State.CLEARED, seconds(t + 5 + clear_after))


def test_a_short_spike_raises_nothing_and_a_new_spike_starts_the_timer_again(site):
    case = site.cases[0]
    report(case, site, T0, cells=pack_cells(4.25))
    evaluate(site)
    report(case, site, seconds(25), cells=HEALTHY_CELLS)
    evaluate(site)
    assert not Alarm.objects.exists()

    report(case, site, seconds(40), cells=pack_cells(4.25))
    evaluate(site)
    report(case, site, seconds(65), cells=pack_cells(4.25))
    evaluate(site)
    alarm = alarm_of(AlarmKind.CELL_OVER_VOLTAGE)
    assert (alarm.state, alarm.condition_since) == (Alarm.State.PENDING, seconds(40))


def test_a_value_back_between_the_limits_restarts_the_clear_timer(site):
    case = site.cases[0]
    for at in (0, 30):
        report(case, site, seconds(at), cells=pack_cells(4.25))
        evaluate(site)
    for at, volts in ((40, 4.10), (60, 4.17), (75, 4.10), (100, 4.10)):
        report(case, site, seconds(at), cells=pack_cells(volts))
        evaluate(site)
    assert alarm_of(AlarmKind.CELL_OVER_VOLTAGE).state == Alarm.State.ACTIVE

    report(case, site, seconds(105), cells=pack_cells(4.10))
    evaluate(site)
    assert alarm_of(AlarmKind.CELL_OVER_VOLTAGE).cleared_at == seconds(105)


def test_the_alarm_keeps_its_value_at_raise_and_its_peak(site):
    case = site.cases[0]
    for at, volts in ((0, 4.22), (30, 4.24), (45, 4.31), (60, 4.21)):
        report(case, site, seconds(at), cells=pack_cells(volts))
        evaluate(site)
    alarm = alarm_of(AlarmKind.CELL_OVER_VOLTAGE)
    assert alarm.value_at_raise == pytest.approx(4.24, abs=1e-5)
    assert alarm.peak_value == pytest.approx(4.31, abs=1e-5)
    assert alarm.last_value == pytest.approx(4.21, abs=1e-5)


def test_under_voltage_keeps_the_lowest_value_as_its_peak(site):
    case = site.cases[0]
    for at, volts in ((0, 2.95), (30, 2.80), (45, 2.99)):
        report(case, site, seconds(at), cells=pack_cells(volts))
        evaluate(site)
    assert alarm_of(AlarmKind.CELL_UNDER_VOLTAGE).peak_value == pytest.approx(2.80, abs=1e-5)


def test_open_cells_are_left_out_of_the_cell_voltages(site):
    case = site.cases[0]
    cells = [*pack_cells(3.9)[1:], 0.0]
    for at in (0, 60):
        report(case, site, seconds(at), cells=cells, open_cells=[14])
        evaluate(site)
    assert not Alarm.objects.exists()

    report(case, site, seconds(120), cells=cells, open_cells=[])
    evaluate(site)
    assert set(Alarm.objects.values_list("kind", flat=True)) == {
        AlarmKind.CELL_UNDER_VOLTAGE,
        AlarmKind.CELL_DELTA,
    }


def test_cell_delta_is_a_warning_measured_as_highest_minus_lowest_cell(site):
    case = site.cases[0]
    cells = [3.95, *pack_cells(3.9)[2:], 3.84]
    for at in (0, 60):
        report(case, site, seconds(at), cells=cells)
        evaluate(site)
    alarm = alarm_of(AlarmKind.CELL_DELTA)
    assert alarm.severity == Severity.WARNING
    assert alarm.value_at_raise == pytest.approx(0.11, abs=1e-5)


def test_fet_open_counts_the_open_fets_of_the_pack(site):
    case = site.cases[0]
    for at in (0, 30):
        report(case, site, seconds(at), fet_open=[1, 2])
        evaluate(site)
    alarm = alarm_of(AlarmKind.FET_OPEN)
    assert (alarm.state, alarm.value_at_raise) == (Alarm.State.ACTIVE, 2)
    assert alarm.message == f"Case {case.serial}: FET open, 2 open (limit 1 open)"


def test_each_pack_is_judged_on_its_own(site):
    hot, cool = site.cases[0], site.cases[1]
    for at in (0, 30):
        report(hot, site, seconds(at), temps=[60, 30, 30])
        report(cool, site, seconds(at))
        evaluate(site)
    assert list(Alarm.objects.values_list("case", "kind", "state")) == [
        (hot.pk, AlarmKind.PACK_TEMPERATURE, Alarm.State.ACTIVE)
    ]


def test_a_resent_or_older_state_changes_nothing(site):
    case = site.cases[0]
    for at in (0, 30):
        report(case, site, seconds(at), cells=pack_cells(4.25))
        evaluate(site)
    report(case, site, seconds(10), cells=pack_cells(4.0))
    evaluate(site)
    report(case, site, seconds(30), cells=pack_cells(4.0))
    evaluate(site)
    alarm = alarm_of(AlarmKind.CELL_OVER_VOLTAGE)
    assert (alarm.state, alarm.clear_since, alarm.last_seen_at) == (Alarm.State.ACTIVE, None, seconds(30))


def test_a_site_override_applies_to_that_site_only(site):
    other = build_site(docks=4, at=T0)
    set_threshold(AlarmKind.PACK_TEMPERATURE, site=site, raise_value=65, clear_value=60)
    for at in (0, 30):
        report(site.cases[0], site, seconds(at), temps=[58, 30, 30])
        report(other.test_cases[(1, 1)], other, seconds(at), temps=[58, 30, 30])
        pack_alarms_evaluate(site_ids=[site.id, other.id])
    assert list(Alarm.objects.values_list("site", flat=True)) == [other.pk]


def test_a_disabled_threshold_raises_nothing_and_clears_its_active_alarms(site):
    case = site.cases[0]
    for at in (0, 30):
        report(case, site, seconds(at), fet_open=[1])
        evaluate(site)
    set_threshold(AlarmKind.FET_OPEN, enabled=False)
    report(case, site, seconds(35), fet_open=[1])
    evaluate(site)
    alarm = alarm_of(AlarmKind.FET_OPEN)
    assert (alarm.state, alarm.cleared_at) == (Alarm.State.CLEARED, seconds(35))

    for at in (40, 100):
        report(case, site, seconds(at), fet_open=[1])
        evaluate(site)
    assert Alarm.objects.count() == 1


def test_alarms_of_a_case_that_now_reports_from_another_site_are_closed(site):
    case = site.cases[0]
    for at in (0, 30):
        report(case, site, seconds(at), fet_open=[1])
        evaluate(site)
    elsewhere = build_site(docks=4, at=T0)
    report(case, elsewhere, seconds(60), fet_open=[])
    evaluate(site)
    alarm = alarm_of(AlarmKind.FET_OPEN)
    assert (alarm.site, alarm.state) == (site, Alarm.State.CLEARED)


def test_evaluation_takes_the_same_few_queries_for_4_or_12_packs():
    def queries_for(packs):
        site = build_site(docks=packs, at=T0)
        cases = [site.test_cases[(1, dock)] for dock in range(1, packs + 1)]
        count = 0
        for at in (0, 30, 31):
            for index, case in enumerate(cases):
                report(case, site, seconds(at), cells=pack_cells(4.25 if index % 2 else 3.9), fet_open=[1])
            with CaptureQueriesContext(connection) as queries:
                pack_alarms_evaluate(site_ids=[site.id])
            count += len(queries)
        assert Alarm.objects.filter(site=site, state=Alarm.State.ACTIVE).count() == packs + packs // 2
        return count

    assert queries_for(4) == queries_for(12)
