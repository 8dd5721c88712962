"""Rollups: hand-computable figures, re-computation of late data, and idempotent refreshes."""

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone as django_timezone

from assets.constants import CELL_BLOCKS_PER_CASE, CELL_NUMBERS
from assets.models import Kind
from telemetry.models import (
    DeviceRollup1h,
    DeviceRollup1m,
    InverterReading,
    LateRollupMinute,
    MpptReading,
    PackReading,
    PackRollup1h,
    PackRollup1m,
)
from telemetry.rollup_tasks import refresh_late_rollups, refresh_rollups_1m
from telemetry.rollups import (
    ONE_HOUR,
    ONE_MINUTE,
    bucket_start,
    late_minutes,
    late_minutes_note,
    refresh_all_rollups,
    refresh_recent_rollups,
    refresh_rollups,
    rollups_refresh_late,
    rollups_refresh_ranges,
)
from tests.conftest import wait_until
from tests.factories import CaseFactory, ComponentFactory, SiteFactory

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def pack_reading(
    case, site, at, *, volts, cells, temps=(30.0, 31.0, 32.0), fet_temps=(33.0, 34.0), open_cells=()
):
    return PackReading.objects.create(
        case=case,
        site=site,
        time=at,
        utc_offset_minutes=420,
        dock=1,
        volts=volts,
        amps=volts / 10,
        temps=list(temps),
        cell_volts=list(cells),
        open_cells=list(open_cells),
        fet_open=[],
        fet_temps=list(fet_temps),
    )


def cells(low, high):
    """The cell voltages of a pack: one at ``low``, one at ``high``, the rest in between."""
    return [low, high, *[(low + high) / 2] * (CELL_BLOCKS_PER_CASE - 2)]


@pytest.fixture
def site():
    return SiteFactory()


@pytest.fixture
def case():
    return CaseFactory()


@pytest.mark.django_db
def test_minute_and_hour_rollups_of_a_pack_have_the_hand_computed_figures(site, case):
    pack_reading(case, site, T0, volts=54.0, cells=cells(3.80, 3.90), temps=(30, 36, 31))
    pack_reading(case, site, T0 + timedelta(seconds=5), volts=55.0, cells=cells(3.85, 3.95))
    pack_reading(case, site, T0 + timedelta(seconds=10), volts=56.0, cells=cells(3.70, 3.96))
    pack_reading(
        case, site, T0 + timedelta(minutes=1), volts=58.0, cells=cells(3.90, 3.92), fet_temps=(40, 1)
    )

    refresh_all_rollups(start=T0, end=T0 + timedelta(minutes=2))

    first, second = PackRollup1m.objects.filter(case=case).order_by("bucket")
    assert (first.bucket, first.n, first.site_id) == (T0, 3, site.id)
    assert (first.volts_min, first.volts_avg, first.volts_max) == (54.0, 55.0, 56.0)
    assert first.cell_min == pytest.approx(3.70)
    assert first.cell_max == pytest.approx(3.96)
    assert first.cell_delta_max == pytest.approx(0.26)  # the third reading: 3.96 - 3.70
    assert first.temp_max == 36.0
    assert first.fet_temp_max == 34.0
    assert (second.bucket, second.n, second.volts_avg, second.fet_temp_max) == (
        T0 + ONE_MINUTE,
        1,
        58.0,
        40.0,
    )
    assert second.cell_delta_max == pytest.approx(0.02)

    hour = PackRollup1h.objects.get(case=case)
    assert (hour.bucket, hour.n) == (T0, 4)
    assert hour.volts_avg == pytest.approx((54 + 55 + 56 + 58) / 4)  # weighted by readings, not by minutes
    assert (hour.volts_min, hour.volts_max) == (54.0, 58.0)
    assert hour.cell_min == pytest.approx(3.70)
    assert hour.cell_delta_max == pytest.approx(0.26)
    assert hour.fet_temp_max == 40.0


@pytest.mark.django_db
def test_pack_rollups_keep_the_average_of_each_cell_weighted_by_readings(site, case):
    pack_reading(case, site, T0, volts=54.0, cells=cells(3.80, 3.90))
    pack_reading(case, site, T0 + timedelta(seconds=5), volts=54.0, cells=cells(3.85, 3.95))
    pack_reading(case, site, T0 + timedelta(seconds=10), volts=54.0, cells=cells(3.70, 3.96))
    pack_reading(case, site, T0 + timedelta(minutes=1), volts=54.0, cells=cells(3.90, 3.92))

    refresh_all_rollups(start=T0, end=T0 + timedelta(minutes=2))

    first, second = PackRollup1m.objects.filter(case=case).order_by("bucket")
    assert len(first.cell_volts_avg) == CELL_BLOCKS_PER_CASE
    assert first.cell_volts_avg[0] == pytest.approx((3.80 + 3.85 + 3.70) / 3)
    assert first.cell_volts_avg[1] == pytest.approx((3.90 + 3.95 + 3.96) / 3)
    assert first.cell_volts_avg[13] == pytest.approx((3.85 + 3.90 + 3.83) / 3)
    assert second.cell_volts_avg[0] == pytest.approx(3.90)
    hour = PackRollup1h.objects.get(case=case)
    assert hour.cell_volts_avg[0] == pytest.approx((3.80 + 3.85 + 3.70 + 3.90) / 4)  # by readings


@pytest.mark.django_db
def test_hourly_cell_averages_skip_minutes_rolled_up_before_they_had_any(site, case):
    pack_reading(case, site, T0, volts=54.0, cells=cells(3.60, 3.60))
    pack_reading(case, site, T0 + timedelta(minutes=1), volts=54.0, cells=cells(3.90, 3.90))
    refresh_rollups(width=ONE_MINUTE, start=T0, end=T0 + timedelta(minutes=2))
    # A minute rolled up before the per-cell averages were added to the rollups (telemetry migration 0004).
    PackRollup1m.objects.filter(case=case, bucket=T0).update(cell_volts_avg=None)

    refresh_rollups(width=ONE_HOUR, start=T0, end=T0 + ONE_HOUR)

    hour = PackRollup1h.objects.get(case=case)
    assert hour.n == 2 and hour.volts_avg == 54.0
    assert hour.cell_volts_avg == [pytest.approx(3.90)] * CELL_BLOCKS_PER_CASE


@pytest.mark.django_db
def test_open_cells_are_left_out_of_the_lowest_and_highest_cell_and_the_spread(site, case):
    # Cell 1 is open and reads 0 V; then every cell is open in one reading.
    pack_reading(
        case, site, T0, volts=54.0, cells=[0.0, 3.90, *[3.85] * (CELL_BLOCKS_PER_CASE - 2)], open_cells=[1]
    )
    pack_reading(case, site, T0 + timedelta(seconds=5), volts=54.0, cells=cells(3.82, 3.86))
    pack_reading(
        case,
        site,
        T0 + timedelta(seconds=10),
        volts=54.0,
        cells=[0.0] * CELL_BLOCKS_PER_CASE,
        open_cells=CELL_NUMBERS,
    )

    refresh_all_rollups(start=T0, end=T0 + ONE_MINUTE)

    minute = PackRollup1m.objects.get(case=case)
    assert (minute.cell_min, minute.cell_max) == (pytest.approx(3.82), pytest.approx(3.90))
    assert minute.cell_delta_max == pytest.approx(0.05, abs=1e-6)  # 3.90 - 3.85, first reading
    assert minute.cell_volts_avg[0] == pytest.approx(3.82 / 3)  # an average of what the cell read
    hour = PackRollup1h.objects.get(case=case)
    assert (hour.cell_min, hour.cell_max) == (pytest.approx(3.82), pytest.approx(3.90))


@pytest.mark.django_db
def test_device_rollups_keep_mppt_and_inverter_apart_and_compute_power(site):
    mppt = ComponentFactory(kind=Kind.MPPT, configured_id="IT6415AD-09-001")
    inverter = ComponentFactory(kind=Kind.INVERTER, configured_id="SPI-B2-09-001")
    values = {
        "pv_volts": [100.0, 50.0],
        "pv_amps": [2.0, 4.0],
        "batt_volts": 54.0,
        "batt_amps": 10.0,
        "load_volts": [48.0, 48.0],
        "load_amps": [1.0, 0.5],
        "utc_offset_minutes": 420,
    }
    MpptReading.objects.create(device=mppt, site=site, time=T0, **values)
    MpptReading.objects.create(
        device=mppt, site=site, time=T0 + timedelta(seconds=30), **{**values, "batt_amps": 20.0}
    )
    InverterReading.objects.create(device=inverter, site=site, time=T0, **values)

    refresh_all_rollups(start=T0, end=T0 + ONE_MINUTE)

    mppt_minute = DeviceRollup1m.objects.get(device=mppt)
    assert (mppt_minute.kind, mppt_minute.n) == ("mppt", 2)
    assert (mppt_minute.pv1_power_avg, mppt_minute.pv2_power_max) == (200.0, 200.0)
    assert (mppt_minute.batt_amps_min, mppt_minute.batt_amps_avg, mppt_minute.batt_amps_max) == (
        10.0,
        15.0,
        20.0,
    )
    assert mppt_minute.load_power_avg == 72.0  # 48 x 1 + 48 x 0.5
    assert DeviceRollup1m.objects.get(device=inverter).kind == "inverter"
    assert DeviceRollup1h.objects.get(device=mppt).batt_amps_avg == 15.0


@pytest.mark.django_db
def test_a_late_reading_within_the_margin_updates_its_bucket_on_the_next_beat_run(site, case, settings):
    settings.TELEMETRY_ROLLUP_1M_LATENESS = timedelta(minutes=10)
    pack_reading(case, site, T0 + timedelta(seconds=5), volts=54.0, cells=cells(3.8, 3.9))
    refresh_recent_rollups(width=ONE_MINUTE, now=T0 + timedelta(minutes=1))
    assert PackRollup1m.objects.get(case=case, bucket=T0).n == 1

    # Eight minutes later, a reading for 10:00 arrives (a gateway that was offline).
    pack_reading(case, site, T0 + timedelta(seconds=40), volts=58.0, cells=cells(3.6, 3.9))
    refresh_recent_rollups(width=ONE_MINUTE, now=T0 + timedelta(minutes=9))

    bucket = PackRollup1m.objects.get(case=case, bucket=T0)
    assert (bucket.n, bucket.volts_avg, bucket.volts_max) == (2, 56.0, 58.0)
    assert bucket.cell_min == pytest.approx(3.6)


@pytest.mark.django_db
def test_a_reading_later_than_the_margin_waits_for_an_explicit_refresh_of_its_range(site, case, settings):
    settings.TELEMETRY_ROLLUP_1M_LATENESS = timedelta(minutes=10)
    pack_reading(case, site, T0, volts=54.0, cells=cells(3.8, 3.9))
    refresh_recent_rollups(width=ONE_MINUTE, now=T0 + timedelta(minutes=1))
    pack_reading(case, site, T0 + timedelta(seconds=20), volts=60.0, cells=cells(3.8, 3.9))

    refresh_recent_rollups(width=ONE_MINUTE, now=T0 + timedelta(minutes=30))
    assert PackRollup1m.objects.get(case=case, bucket=T0).n == 1

    refresh_rollups(width=ONE_MINUTE, start=T0, end=T0 + timedelta(seconds=1))
    assert PackRollup1m.objects.get(case=case, bucket=T0).volts_max == 60.0


@pytest.mark.django_db
def test_refreshing_the_same_range_again_changes_nothing(site, case):
    for second in range(0, 120, 5):
        pack_reading(
            case, site, T0 + timedelta(seconds=second), volts=50 + second / 10, cells=cells(3.8, 3.9)
        )
    refresh_all_rollups(start=T0, end=T0 + ONE_HOUR)
    before = list(PackRollup1m.objects.order_by("bucket").values())

    refresh_all_rollups(start=T0, end=T0 + ONE_HOUR)

    assert list(PackRollup1m.objects.order_by("bucket").values()) == before
    assert [row["n"] for row in before] == [12, 12]
    assert PackRollup1h.objects.get(case=case).n == 24


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_beat_task_registered_through_celery_imports_refreshes_recent_rollups_in_a_worker(
    site, case, celery_worker_process
):
    recent = django_timezone.now() - timedelta(minutes=2)
    pack_reading(case, site, recent, volts=54.0, cells=cells(3.8, 3.9))

    refresh_rollups_1m.delay()

    rollup = wait_until(lambda: PackRollup1m.objects.filter(case=case).first())
    assert (rollup.n, rollup.volts_max) == (1, 54.0)


@pytest.mark.django_db
def test_the_refresh_rollups_command_backfills_a_range(site, case):
    pack_reading(case, site, T0, volts=54.0, cells=cells(3.8, 3.9))
    output = io.StringIO()

    call_command(
        "refresh_rollups",
        "--start",
        "2026-11-20T16:30+07:00",
        "--end",
        "2026-11-20T17:30+07:00",
        stdout=output,
    )

    assert PackRollup1m.objects.get(case=case).bucket == T0
    assert PackRollup1h.objects.get(case=case).bucket == T0
    assert output.getvalue().startswith("4 rollup rows written")  # the pack's and the site's, per width


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--start", "yesterday"], "--start: 'yesterday' is not a date and time"),
        (["--start", "2026-11-20T12:00Z", "--end", "2026-11-20T11:00Z"], "must be before --end"),
    ],
)
def test_the_refresh_rollups_command_explains_a_bad_range(arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("refresh_rollups", *arguments)


def test_of_the_times_just_stored_only_the_minutes_of_those_older_than_the_margin_are_late(settings):
    settings.TELEMETRY_ROLLUP_1M_LATENESS = timedelta(minutes=10)
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    india = timezone(timedelta(hours=5, minutes=30))
    times = [
        now - timedelta(minutes=9),  # beat's
        now - timedelta(minutes=11, seconds=30),
        now - timedelta(minutes=11, seconds=55),  # the same minute
        now - timedelta(minutes=50),
        datetime(2026, 9, 1, 8, 40, 5, tzinfo=india),  # 03:10 UTC
    ]

    minute = timedelta(minutes=1)
    assert late_minutes(times=times, now=now) == {
        datetime(2026, 9, 1, 3, 10, tzinfo=UTC),
        now - 50 * minute,
        now - 12 * minute,
    }
    assert late_minutes(times=times[:1], now=now) == set()


@pytest.mark.django_db
def test_late_minutes_are_refreshed_with_their_hours_and_taken_off_the_list(site, case):
    for minutes in (5, 6, 70):
        pack_reading(case, site, T0 + timedelta(minutes=minutes), volts=54.0, cells=cells(3.8, 3.9))
    late_minutes_note(minutes={T0 + timedelta(minutes=5), T0 + timedelta(minutes=6)})
    late_minutes_note(minutes={T0 + timedelta(minutes=6), T0 + timedelta(minutes=70)})  # a second batch

    assert rollups_refresh_late(limit=3) is True  # the three oldest notes; one may still be due
    assert rollup_counts(PackRollup1m, case=case) == {T0 + 5 * ONE_MINUTE: 1, T0 + 6 * ONE_MINUTE: 1}
    assert rollup_counts(PackRollup1h, case=case) == {T0: 2}
    assert list(LateRollupMinute.objects.values_list("minute", flat=True)) == [T0 + 70 * ONE_MINUTE]

    assert rollups_refresh_late(limit=3) is False
    assert rollup_counts(PackRollup1h, case=case) == {T0: 2, T0 + ONE_HOUR: 1}
    assert not LateRollupMinute.objects.exists()


@pytest.mark.django_db
def test_a_late_refresh_that_fails_leaves_its_minutes_due(site, case, monkeypatch):
    pack_reading(case, site, T0 + timedelta(minutes=5), volts=54.0, cells=cells(3.8, 3.9))
    late_minutes_note(minutes={T0 + timedelta(minutes=5)})

    def fail(**kwargs):
        raise RuntimeError("the worker died mid-way")

    monkeypatch.setattr("telemetry.rollups.rollups_refresh_ranges", fail)
    with pytest.raises(RuntimeError):
        rollups_refresh_late()

    assert list(LateRollupMinute.objects.values_list("minute", flat=True)) == [T0 + 5 * ONE_MINUTE]
    assert not PackRollup1m.objects.exists()


def test_buckets_are_aligned_to_utc_whatever_the_offset_of_the_time():
    india = timezone(timedelta(hours=5, minutes=30))

    assert bucket_start(datetime(2026, 9, 1, 8, 40, tzinfo=india), ONE_HOUR) == datetime(
        2026, 9, 1, 3, tzinfo=UTC
    )


def rollup_counts(model, **filters):
    return dict(model.objects.filter(**filters).order_by("bucket").values_list("bucket", "n"))


def upserts(queries):
    return [query["sql"] for query in queries if query["sql"].startswith("INSERT INTO telemetry_")]


@pytest.mark.django_db
def test_refreshing_two_minutes_80_days_apart_rewrites_their_rollups_and_nothing_between(site, case):
    early, middle, late = T0 - timedelta(days=80), T0 - timedelta(days=40), T0
    for hour in (early, middle, late):
        pack_reading(case, site, hour + timedelta(minutes=20), volts=54.0, cells=cells(3.8, 3.9))
        refresh_all_rollups(start=hour, end=hour + ONE_HOUR)
    bucket = timedelta(minutes=20)
    for hour in (early, middle, late):  # late readings, in each of the three hours
        pack_reading(case, site, hour + timedelta(minutes=20, seconds=5), volts=56.0, cells=cells(3.8, 3.9))

    with CaptureQueriesContext(connection) as queries:
        written = rollups_refresh_ranges(
            ranges=[
                (late + bucket, late + bucket + timedelta(seconds=10)),
                (early + bucket, early + bucket + ONE_MINUTE),
            ]
        )

    assert rollup_counts(PackRollup1m, case=case) == {early + bucket: 2, middle + bucket: 1, late + bucket: 2}
    assert rollup_counts(PackRollup1h, case=case) == {early: 2, middle: 1, late: 2}
    assert written == 8  # 4 of the pack, 4 of its site
    # One statement per rollup table and minute or hour: the 80 days between cost nothing.
    assert len(upserts(queries)) == 2 * UPSERTS_PER_RANGE


UPSERTS_PER_RANGE = 6  # pack, site and device rollups, 1-minute and 1-hour


@pytest.mark.django_db
def test_ranges_that_touch_are_refreshed_as_one(site, case):
    for minutes in (10, 70, 130):
        pack_reading(case, site, T0 + timedelta(minutes=minutes), volts=54.0, cells=cells(3.8, 3.9))

    with CaptureQueriesContext(connection) as queries:
        written = rollups_refresh_ranges(
            ranges=[
                (T0 + ONE_HOUR, T0 + 3 * ONE_HOUR),
                (T0, T0 + ONE_HOUR),
                (T0 + ONE_HOUR, T0 + 2 * ONE_HOUR),
            ]
        )

    assert rollup_counts(PackRollup1h, case=case) == {T0: 1, T0 + ONE_HOUR: 1, T0 + 2 * ONE_HOUR: 1}
    assert written == 12
    assert len(upserts(queries)) == UPSERTS_PER_RANGE


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_late_rollups_task_refreshes_the_minutes_due_in_a_worker(site, case, celery_worker_process):
    pack_reading(case, site, T0 + timedelta(minutes=5), volts=54.0, cells=cells(3.8, 3.9))
    late_minutes_note(minutes={T0 + timedelta(minutes=5)})

    refresh_late_rollups.delay()

    rollup = wait_until(lambda: PackRollup1h.objects.filter(case=case).first())
    assert (rollup.bucket, rollup.n) == (T0, 1)
    assert PackRollup1m.objects.get(case=case).bucket == T0 + timedelta(minutes=5)
