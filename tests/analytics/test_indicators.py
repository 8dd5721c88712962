"""Each health indicator on a hand-built daily series: its light and its one-line reason."""

from datetime import UTC, date, datetime, timedelta

import pytest

from alarms.models import Alarm, AlarmKind, Severity
from analytics import indicators
from analytics.indicators import Day
from analytics.models import CaseHealth, Light
from analytics.services import analytics_refresh
from assets.constants import CELL_BLOCKS_PER_CASE
from assets.models import Kind, PartModel
from tests.analytics.helpers import pack_minute
from tests.factories import CaseFactory, SiteFactory

D0 = date(2026, 11, 1)


def series(count, **per_day):
    """``count`` days from D0; each keyword is a function of the day's index giving that field."""
    return [Day(day=D0 + timedelta(days=i), **{k: f(i) for k, f in per_day.items()}) for i in range(count)]


def deviations(cell, mv):
    values = [0.0] * CELL_BLOCKS_PER_CASE
    values[cell - 1] = mv
    return values


def test_the_trend_is_the_least_squares_slope_per_week():
    points = [(D0 + timedelta(days=i), 10 + 2 * i) for i in range(6)]
    assert indicators.slope_per_week(points) == pytest.approx(14.0)
    assert indicators.slope_per_week(points[:4]) is None  # too few days for a trend


def test_cycles_come_from_the_nominal_capacity_of_the_part():
    result = indicators.throughput(throughput_ah=300.0, nominal_ah=100.0, model_number="LFP-100")
    assert (result["light"], result["value"]) == ("green", 1.5)
    assert result["reason"] == "300 Ah through it: 1.5 equivalent full cycles of 100 Ah"
    unknown = indicators.throughput(throughput_ah=300.0, nominal_ah=None, model_number="X-1")
    assert unknown["light"] == "grey"
    assert "no nominal capacity in the part catalogue for model 'X-1'" in unknown["reason"]


def test_a_steady_small_imbalance_is_green_and_a_growing_one_is_not():
    steady = indicators.imbalance(series(14, rest_imbalance_mv=lambda i: 12.0))
    assert (steady["light"], steady["reason"]) == (
        "green",
        "cells 12 mV apart at rest, shrinking 0.0 mV a week",
    )
    growing = indicators.imbalance(series(14, rest_imbalance_mv=lambda i: 10.0 + i))
    assert growing["light"] == "amber"
    assert growing["reason"] == "cells 20 mV apart at rest, growing 7.0 mV a week"
    wide = indicators.imbalance(series(3, rest_imbalance_mv=lambda i: 55.0))
    assert (wide["light"], wide["reason"]) == ("red", "cells 55 mV apart at rest")
    assert indicators.imbalance(series(3))["light"] == "grey"


def test_the_cell_furthest_from_the_median_under_load_is_named_with_its_trend():
    days = series(14, cell_deviation_mv=lambda i: deviations(7, -(29.0 + 6 * i / 7)))
    result = indicators.deviation(days)
    assert result["light"] == "amber"
    assert result["reason"] == "cell 7 sits 38 mV below the pack median under load, growing 6.0 mV a week"
    assert result["ranking"][0] == [7, pytest.approx(-38.0, abs=0.5)]


def test_resistance_is_judged_against_the_fleet_median():
    days = series(7, resistance_mohm=lambda i: 30.0)
    assert indicators.resistance(days, fleet_median=12.0)["light"] == "red"
    assert indicators.resistance(days, fleet_median=19.0)["light"] == "amber"
    fine = indicators.resistance(days, fleet_median=28.0)
    assert (fine["light"], fine["value"]) == ("green", 30.0)
    assert fine["reason"].startswith("30.0 mOhm, 1.1 x the fleet's median of 28.0")
    assert indicators.resistance(series(7), fleet_median=28.0)["light"] == "grey"


def test_hours_above_45_degrees_and_the_maximum_set_the_temperature_lights():
    hot = indicators.temperature(series(7, hot_hours=lambda i: 2.0, temp_max=lambda i: 48.0), fets=False)
    assert (hot["light"], hot["value"]) == ("red", 14.0)
    assert hot["reason"] == "14.0 h above 45 °C in its last 7 days with data, at most 48.0 °C"
    cool = indicators.temperature(series(7, fet_temp_max=lambda i: 40.0), fets=True)
    assert (cool["key"], cool["light"]) == ("fet_temperature", "green")


def test_time_in_alarm():
    assert indicators.time_in_alarm(hours=0.5, days=7)["light"] == "green"
    result = indicators.time_in_alarm(hours=30, days=7)
    assert (result["light"], result["reason"]) == ("red", "30.0 h in alarm in the last 7 days")


@pytest.mark.django_db
def test_the_health_summary_of_a_case_names_every_indicator_and_its_worst_light():
    PartModel.objects.create(model_number="LFP-100", kind=Kind.CASE, nominal_ah=100, nominal_volts=51.2)
    site = SiteFactory(time_zone="UTC")
    case = CaseFactory(model_number="LFP-100")
    start = datetime(2026, 11, 20, tzinfo=UTC)
    for i in range(120):  # two hours charging at 50 A: 100 Ah through it, half a cycle
        pack_minute(case, site, start + timedelta(minutes=i), amps=50.0, temp=47.0 if i < 90 else 30.0)
    now = start + timedelta(hours=3)
    Alarm.objects.create(
        site=site,
        case=case,
        kind=AlarmKind.PACK_TEMPERATURE,
        severity=Severity.ALARM,
        state=Alarm.State.CLEARED,
        condition_since=start,
        raised_at=start,
        cleared_at=start + timedelta(minutes=90),
        peak_value=47,
        last_value=40,
        last_seen_at=start + timedelta(minutes=90),
    )

    assert analytics_refresh(start=start, end=now, now=now) == {case.pk}

    health = CaseHealth.objects.get(case=case)
    by_key = {item["key"]: item for item in health.indicators}
    assert list(by_key) == [
        "cycles",
        "imbalance",
        "deviation",
        "resistance",
        "temperature",
        "fet_temperature",
        "alarm",
    ]
    assert (health.throughput_ah, health.equivalent_cycles) == (pytest.approx(100.0), 0.5)
    assert by_key["temperature"]["light"] == "amber"
    assert by_key["temperature"]["reason"] == "1.5 h above 45 °C in its last day with data, at most 47.0 °C"
    assert by_key["alarm"]["reason"] == "1.5 h in alarm in the last 7 days"
    assert (by_key["alarm"]["light"], health.light, health.site_id) == ("amber", Light.AMBER, site.pk)
    assert health.needs_attention


@pytest.mark.django_db
def test_a_case_health_is_recomputed_at_most_hourly_by_the_refresh():
    site, case = SiteFactory(time_zone="UTC"), CaseFactory()
    start = datetime(2026, 11, 20, tzinfo=UTC)
    pack_minute(case, site, start, amps=5.0)
    analytics_refresh(start=start, end=start + timedelta(hours=1), now=start + timedelta(hours=1))
    computed = CaseHealth.objects.get(case=case).computed_at

    analytics_refresh(start=start, end=start + timedelta(hours=1), now=start + timedelta(minutes=110))
    assert CaseHealth.objects.get(case=case).computed_at == computed

    analytics_refresh(start=start, end=start + timedelta(hours=1), now=start + timedelta(hours=2, minutes=1))
    assert CaseHealth.objects.get(case=case).computed_at == start + timedelta(hours=2, minutes=1)
