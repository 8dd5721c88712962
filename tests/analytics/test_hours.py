"""Hour rows and daily figures on small hand-built series with known answers."""

from datetime import UTC, date, datetime, timedelta

import pytest

from analytics.daily import case_days, device_yields, site_days
from analytics.hours import refresh_hours
from analytics.models import CaseHour, DeviceHour
from assets.constants import CELL_BLOCKS_PER_CASE
from assets.models import Kind
from telemetry.models import PackReading
from telemetry.rollups import refresh_all_rollups
from tests.analytics.helpers import device_minutes, pack_minute
from tests.factories import CaseFactory, ComponentFactory, SiteFactory

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 in Bangkok
MINUTE = timedelta(minutes=1)


@pytest.fixture
def site():
    return SiteFactory(time_zone="Asia/Bangkok")


@pytest.fixture
def case():
    return CaseFactory()


def refresh(start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=3)):
    return refresh_hours(start=start, end=end)


@pytest.mark.django_db
def test_energy_and_ah_of_a_pack_are_the_integrals_of_its_readings(site, case):
    # Two minutes charging at 50 V x 10 A, one discharging at 50 V x 4 A, a reading every 5 s.
    for second in range(0, 180, 5):
        amps = 10.0 if second < 120 else -4.0
        PackReading.objects.create(
            case=case,
            site=site,
            time=T0 + timedelta(seconds=second),
            utc_offset_minutes=420,
            dock=1,
            volts=50.0,
            amps=amps,
            temps=[30, 30, 30],
            cell_volts=[3.57] * CELL_BLOCKS_PER_CASE,
            open_cells=[],
            fet_open=[],
            fet_temps=[30, 30],
        )
    refresh_all_rollups(start=T0, end=T0 + timedelta(hours=1))

    assert refresh() == {case.pk}

    hour = CaseHour.objects.get(case=case)
    assert (hour.hour, hour.day, hour.minutes) == (T0, date(2026, 11, 20), 3)
    assert hour.charged_wh == pytest.approx(500 * 120 / 3600)
    assert hour.discharged_wh == pytest.approx(200 * 60 / 3600)
    assert hour.charged_ah == pytest.approx(10 * 120 / 3600)
    assert hour.discharged_ah == pytest.approx(4 * 60 / 3600)


@pytest.mark.django_db
def test_a_current_step_gives_the_known_resistance(site, case):
    pack_minute(case, site, T0, volts=53.0, amps=0.0)
    pack_minute(case, site, T0 + MINUTE, volts=53.2, amps=10.0)  # +0.2 V for +10 A: 20 mOhm
    pack_minute(case, site, T0 + 2 * MINUTE, volts=53.2, amps=10.5)  # no step
    pack_minute(case, site, T0 + 4 * MINUTE, volts=52.9, amps=0.0)  # a step, but after a missing minute
    pack_minute(case, site, T0 + 5 * MINUTE, volts=52.6, amps=-10.0)  # -0.3 V for -10 A: 30 mOhm

    refresh()

    assert sorted(CaseHour.objects.get(case=case).resistance_mohm) == pytest.approx([20.0, 30.0], abs=0.01)
    [day] = case_days(case_ids=[case.pk])[case.pk]
    assert day.resistance_mohm == pytest.approx(25.0, abs=0.01)


@pytest.mark.django_db
def test_a_step_across_an_hour_boundary_counts_in_the_later_hour(site, case):
    pack_minute(case, site, T0 - MINUTE, volts=53.0, amps=0.0)
    pack_minute(case, site, T0, volts=53.2, amps=10.0)

    refresh(start=T0 - MINUTE, end=T0 + timedelta(hours=1))

    assert CaseHour.objects.get(case=case, hour=T0).resistance_mohm == pytest.approx([20.0], abs=0.01)
    assert CaseHour.objects.get(case=case, hour=T0 - timedelta(hours=1)).resistance_mohm == []


@pytest.mark.django_db
def test_rest_gives_the_known_imbalance_leaving_out_open_cells(site, case):
    cells = [3.30] + [3.32] * (CELL_BLOCKS_PER_CASE - 3) + [3.34, 0.0]  # the last cell is open
    for i in range(30):
        pack_minute(case, site, T0 + i * MINUTE, amps=0.1, spread=0.2, cells=cells)
    pack_minute(case, site, T0 + 30 * MINUTE, amps=0.1, spread=2.0, cells=[3.0, 3.5] * 7)  # not at rest

    refresh()

    hour = CaseHour.objects.get(case=case)
    assert (hour.rest_minutes, hour.rest_imbalance_mv) == (30, pytest.approx(40.0, abs=0.01))


@pytest.mark.django_db
def test_a_cell_below_the_median_under_load_has_its_deviation(site, case):
    cells = [3.50] * CELL_BLOCKS_PER_CASE
    cells[6] = 3.462
    for i in range(10):
        pack_minute(case, site, T0 + i * MINUTE, amps=-8.0, cells=cells)
    pack_minute(case, site, T0 + 10 * MINUTE, amps=0.0, cells=[3.3] * CELL_BLOCKS_PER_CASE)  # not under load

    refresh()

    hour = CaseHour.objects.get(case=case)
    assert hour.load_minutes == 10
    assert hour.cell_deviation_mv[6] == pytest.approx(-38.0, abs=0.01)
    assert hour.cell_deviation_mv[0] == pytest.approx(0.0, abs=0.01)


@pytest.mark.django_db
def test_minutes_above_45_degrees_are_counted_for_pack_and_fets(site, case):
    for i in range(90):
        pack_minute(
            case, site, T0 + i * MINUTE, temp=47.0 if i < 45 else 40.0, fet_temp=52.0 if i < 10 else 30.0
        )

    refresh()

    [day] = case_days(case_ids=[case.pk])[case.pk]
    assert (day.hot_hours, day.temp_max) == (0.75, 47.0)
    assert (day.fet_hot_hours, day.fet_temp_max) == (pytest.approx(10 / 60), 52.0)


@pytest.mark.django_db
def test_a_day_with_a_gap_counts_only_the_minutes_with_data(site):
    mppt = ComponentFactory(kind=Kind.MPPT)
    local_midnight = datetime(2026, 11, 19, 17, 0, tzinfo=UTC)  # 00:00 on the 20th in Bangkok
    device_minutes(mppt, site, local_midnight, 600)
    device_minutes(mppt, site, local_midnight + timedelta(minutes=680), 760)  # 80 minutes missing

    refresh_hours(start=local_midnight, end=local_midnight + timedelta(days=1))

    days = site_days(site_ids=[site.pk], first=date(2026, 11, 19), last=date(2026, 11, 21))
    assert list(days[site.pk]) == [date(2026, 11, 20)]
    figures = days[site.pk][date(2026, 11, 20)]
    assert figures["minutes"] == 22 * 60 + 40
    assert figures["mppt_pv_kwh"] == pytest.approx(0.9 * 1360 / 60)
    assert figures["load_kwh"] == pytest.approx(0.1 * 1360 / 60)
    assert device_yields(site_id=site.pk, first=date(2026, 11, 20), last=date(2026, 11, 20)) == [
        (mppt.pk, "mppt", 1, pytest.approx(0.6 * 1360 / 60)),
        (mppt.pk, "mppt", 2, pytest.approx(0.3 * 1360 / 60)),
    ]


@pytest.mark.django_db
def test_hours_and_days_follow_a_site_with_a_quarter_hour_offset(case):
    site = SiteFactory(time_zone="Asia/Kathmandu")  # UTC+05:45
    before_midnight = datetime(2026, 11, 20, 18, 10, tzinfo=UTC)  # 23:55 local
    pack_minute(case, site, before_midnight, amps=5.0)
    pack_minute(case, site, before_midnight + 10 * MINUTE, amps=5.0)  # 00:05 on the 21st

    refresh_hours(start=before_midnight, end=before_midnight + timedelta(minutes=11))

    hours = list(CaseHour.objects.filter(case=case).order_by("hour").values_list("hour", "day"))
    assert hours == [
        (datetime(2026, 11, 20, 17, 15, tzinfo=UTC), date(2026, 11, 20)),
        (datetime(2026, 11, 20, 18, 15, tzinfo=UTC), date(2026, 11, 21)),
    ]


@pytest.mark.django_db
def test_refreshing_again_gives_the_same_rows(site, case):
    for i in range(5):
        pack_minute(case, site, T0 + i * MINUTE, amps=5.0)
    refresh()
    before = list(CaseHour.objects.values())

    refresh()

    assert list(CaseHour.objects.values()) == before
    assert DeviceHour.objects.count() == 0
