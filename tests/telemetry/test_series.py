"""Chart series read directly: which table a range reads, the figures per bucket, gaps, and a case's start."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from assets.constants import CELL_BLOCKS_PER_CASE, pms_dock_number
from assets.models import Kind
from telemetry.measures import pack_chart_measures
from telemetry.models import InverterReading, MpptReading, PackReading, PackRollup1h, PackRollup1m
from telemetry.rollups import pack_rollups_refresh_cases, refresh_all_rollups, refresh_rollups
from telemetry.selectors import fetch_dicts
from telemetry.series import (
    Resolution,
    cell_series,
    data_start,
    device_series,
    pack_series,
    series_resolution,
)
from tests.factories import ComponentFactory, build_site

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
MS = 1000
ONE_MINUTE, ONE_HOUR = timedelta(minutes=1), timedelta(hours=1)
PACK_FIGURES = ["volts_min", "volts_avg", "volts_max", "amps_min", "amps_avg", "amps_max", "temp_max"]
PACK_FIGURES += ["cell_min", "cell_max"]


def ms(at):
    return int(at.timestamp() * MS)


@pytest.mark.parametrize(
    ("span", "source", "bucket"),
    [
        (timedelta(minutes=5), "raw", timedelta(seconds=5)),  # never finer than a sample
        (timedelta(hours=8), "raw", timedelta(seconds=29)),  # 28.8 s, whole seconds
        (timedelta(minutes=499), "raw", timedelta(seconds=30)),
        (timedelta(minutes=500), "1m", timedelta(minutes=1)),  # 30 s buckets: minutes are fine enough
        (timedelta(days=2), "1m", timedelta(seconds=173)),
        (timedelta(hours=499), "1m", timedelta(seconds=1797)),
        (timedelta(hours=500), "1h", timedelta(hours=1)),
        (timedelta(days=365), "1h", timedelta(seconds=31536)),
    ],
)
def test_a_range_reads_the_coarsest_table_fine_enough_for_1000_points(span, source, bucket):
    resolution = series_resolution(start=T0, end=T0 + span)
    assert (resolution.source, resolution.bucket) == (source, bucket)
    assert (resolution.start, resolution.end) == (T0, T0 + span)
    assert span / resolution.bucket <= 1000


@pytest.fixture
def site(db):
    return build_site(cabinets=1, docks=4, at=T0 - timedelta(days=1))


def pack_reading(site, dock, at, *, volts, cell=3.8, open_cells=(), temps=(30.0, 31.0, 32.0)):
    cells = [cell + n / 1000 for n in range(CELL_BLOCKS_PER_CASE)]  # cell n reads cell + (n - 1) mV
    for number in open_cells:
        cells[number - 1] = 0.01
    return PackReading(
        case=site.test_cases[(1, dock)],
        site=site,
        time=at,
        utc_offset_minutes=420,
        dock=pms_dock_number(1, dock),
        volts=volts,
        amps=volts / 10,
        temps=list(temps),
        cell_volts=cells,
        open_cells=list(open_cells),
        fet_open=[],
        fet_temps=[33.0, 34.0],
    )


@pytest.fixture
def readings(site):
    """Minutes 0 and 2 after T0, none in minute 1: dock 1 at 50 and 52 V, dock 2 at 54 V, one open cell."""
    PackReading.objects.bulk_create(
        [
            pack_reading(site, 1, T0, volts=50.0, temps=(30.0, 35.0, 31.0)),
            pack_reading(site, 1, T0 + timedelta(seconds=30), volts=52.0),
            pack_reading(site, 2, T0 + timedelta(seconds=10), volts=54.0, cell=3.9, open_cells=[14]),
            pack_reading(site, 1, T0 + timedelta(minutes=2), volts=51.0),
        ]
    )
    return site


def minute_buckets(source, hours=1):
    return Resolution(start=T0, end=T0 + timedelta(hours=hours), bucket=timedelta(minutes=1), source=source)


@pytest.mark.django_db
def test_site_pack_series_aggregates_across_packs_per_bucket_and_leaves_gaps_empty(readings):
    series = pack_series(resolution=minute_buckets("raw"), site=readings)
    assert series["t"] == [ms(T0), ms(T0 + timedelta(minutes=2))]  # no point for the silent minute
    assert series["volts_min"] == [50.0, 51.0]
    assert series["volts_avg"] == [52.0, 51.0]
    assert series["volts_max"] == [54.0, 51.0]
    assert series["amps_avg"] == [5.2, 5.1]
    assert series["temp_max"] == [35.0, 32.0]
    # Cell 14 of dock 2 is open and reads 0.01 V: it is no pack's lowest cell.
    assert series["cell_min"] == [3.8, 3.8]
    assert series["cell_max"] == [3.912, 3.813]


@pytest.mark.django_db
def test_rollup_sources_give_the_figures_the_raw_readings_give(readings):
    refresh_all_rollups(start=T0, end=T0 + timedelta(hours=1))
    raw = pack_series(resolution=minute_buckets("raw"), site=readings)
    assert pack_series(resolution=minute_buckets("1m"), site=readings) == raw
    hour = Resolution(start=T0, end=T0 + timedelta(hours=1), bucket=timedelta(hours=1), source="1h")
    assert pack_series(resolution=hour, site=readings) == {
        "t": [ms(T0)],
        "volts_min": [50.0],
        "volts_avg": [51.75],  # weighted by readings, not by minutes
        "volts_max": [54.0],
        "amps_min": [5.0],
        "amps_avg": [5.175],
        "amps_max": [5.4],
        "temp_max": [35.0],
        "cell_min": [3.8],
        "cell_max": [3.912],
    }


def series_from_pack_rollups(resolution, site):
    """A site's pack series as charts computed it before the site rollups: across its pack rollup rows."""
    table = {"1m": PackRollup1m, "1h": PackRollup1h}[resolution.source]._meta.db_table
    figures = [(measure.column(stat), measure.of_rollups(stat)) for measure, stat in pack_chart_measures()]
    rows = fetch_dicts(
        f"""
        SELECT time_bucket(%(bucket)s, bucket) AS t, {", ".join(f"{sql} AS {name}" for name, sql in figures)}
        FROM {table} WHERE site_id = %(site_id)s AND bucket >= %(start)s AND bucket < %(end)s
        GROUP BY t ORDER BY t
        """,
        {"site_id": site.pk, "bucket": resolution.bucket, "start": resolution.start, "end": resolution.end},
    )
    return {
        "t": [ms(row["t"]) for row in rows],
        **{name: [round(float(row[name]), 3) for row in rows] for name, _ in figures},
    }


def assert_site_series_as_before(site):
    for source, bucket in (("1m", ONE_MINUTE), ("1m", 10 * ONE_MINUTE), ("1h", ONE_HOUR)):
        resolution = Resolution(start=T0, end=T0 + 2 * ONE_HOUR, bucket=bucket, source=source)
        assert pack_series(resolution=resolution, site=site) == series_from_pack_rollups(resolution, site)


@pytest.mark.django_db
def test_site_rollups_give_the_figures_the_pack_rollups_gave_after_late_and_moved_readings(readings):
    site = readings
    refresh_all_rollups(start=T0, end=T0 + 2 * ONE_HOUR)
    assert_site_series_as_before(site)

    # A late reading of a third pack in minute 2, refreshed on its own, and one in the next hour.
    PackReading.objects.bulk_create(
        [
            pack_reading(site, 3, T0 + timedelta(minutes=2, seconds=15), volts=57.5, cell=3.6),
            pack_reading(site, 3, T0 + timedelta(minutes=61), volts=49.0),
        ]
    )
    refresh_rollups(width=ONE_MINUTE, start=T0 + 2 * ONE_MINUTE, end=T0 + 62 * ONE_MINUTE)
    refresh_rollups(width=ONE_HOUR, start=T0, end=T0 + 2 * ONE_HOUR)
    assert_site_series_as_before(site)
    minutes = Resolution(start=T0, end=T0 + ONE_HOUR, bucket=ONE_MINUTE, source="1m")
    assert pack_series(resolution=minutes, site=site)["volts_max"] == [54.0, 57.5]

    # Re-attribution: dock 1's readings of minute 0 belonged to a case at another site.
    other = build_site(cabinets=1, docks=4, at=T0 - timedelta(days=1))
    moved_from, moved_to = site.test_cases[(1, 1)], other.test_cases[(1, 1)]
    PackReading.objects.filter(case=moved_from, time__lt=T0 + timedelta(minutes=1)).update(
        case=moved_to, site=other
    )
    pack_rollups_refresh_cases(case_ids=[moved_from.pk, moved_to.pk], start=T0, end=T0 + ONE_HOUR)
    assert_site_series_as_before(site)
    assert_site_series_as_before(other)
    assert pack_series(resolution=minutes, site=site)["volts_min"] == [54.0, 51.0]  # dock 2's alone
    assert pack_series(resolution=minutes, site=other)["volts_avg"] == [51.0]

    # Moved back, minute 0 of the other site is left without a pack: no point there any more.
    PackReading.objects.filter(case=moved_to).update(case=moved_from, site=site)
    pack_rollups_refresh_cases(case_ids=[moved_from.pk, moved_to.pk], start=T0, end=T0 + ONE_HOUR)
    assert_site_series_as_before(site)
    assert pack_series(resolution=minutes, site=other)["t"] == []
    assert pack_series(resolution=minutes, site=site)["volts_min"] == [50.0, 51.0]


@pytest.mark.django_db
def test_a_case_series_reads_that_case_only(readings):
    case = readings.test_cases[(1, 1)]
    series = pack_series(resolution=minute_buckets("raw"), case=case)
    assert series["volts_avg"] == [51.0, 51.0]
    cells = cell_series(resolution=minute_buckets("raw"), case=case)
    assert list(cells) == ["t", *(f"cell_{n}" for n in range(1, CELL_BLOCKS_PER_CASE + 1))]
    assert cells["cell_1"] == [3.8, 3.8] and cells["cell_14"] == [3.813, 3.813]
    refresh_all_rollups(start=T0, end=T0 + timedelta(hours=1))
    assert cell_series(resolution=minute_buckets("1m"), case=case) == cells


@pytest.mark.django_db
def test_an_empty_range_has_no_points(readings):
    later = Resolution(
        start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=2), bucket=timedelta(minutes=1), source="raw"
    )
    assert pack_series(resolution=later, site=readings) == {"t": [], **{m: [] for m in PACK_FIGURES}}
    assert device_series(resolution=later, site=readings) == []


@pytest.mark.django_db
@pytest.mark.parametrize("source", ["raw", "1m", "1h"])
def test_device_series_per_device_with_power_per_input_and_load(site, source):
    mppt = ComponentFactory(kind=Kind.MPPT, configured_id="IT6415AD-09-001")
    inverter = ComponentFactory(kind=Kind.INVERTER, configured_id="")
    values = {
        "site": site,
        "utc_offset_minutes": 420,
        "pv_volts": [100.0, 50.0],
        "pv_amps": [2.0, 4.0],
        "batt_volts": 54.0,
        "batt_amps": 10.0,
        "load_volts": [48.0, 48.0],
        "load_amps": [1.0, 0.5],
    }
    MpptReading.objects.create(device=mppt, time=T0, **values)
    MpptReading.objects.create(device=mppt, time=T0 + timedelta(seconds=5), **{**values, "batt_amps": 20.0})
    InverterReading.objects.create(device=inverter, time=T0, **values)
    refresh_all_rollups(start=T0, end=T0 + timedelta(hours=1))
    resolution = Resolution(start=T0, end=T0 + timedelta(hours=1), bucket=timedelta(hours=1), source=source)
    series = sorted(device_series(resolution=resolution, site=site), key=lambda device: device["kind"])
    assert series == [
        {
            "id": str(inverter.pk),  # no configured id: named by its component id
            "kind": "inverter",
            "t": [ms(T0)],
            "pv1_power": [200.0],
            "pv2_power": [200.0],
            "batt_volts": [54.0],
            "batt_amps": [10.0],
            "load_power": [72.0],
        },
        {
            "id": "IT6415AD-09-001",
            "kind": "mppt",
            "t": [ms(T0)],
            "pv1_power": [200.0],
            "pv2_power": [200.0],
            "batt_volts": [54.0],
            "batt_amps": [15.0],
            "load_power": [72.0],
        },
    ]


@pytest.mark.django_db
def test_data_starts_with_the_first_rollup_else_the_first_recent_reading(site):
    case = site.test_cases[(1, 1)]
    assert data_start(case=case) is None and data_start(site=site) is None
    recent = timezone.now() - timedelta(hours=2)
    PackReading.objects.bulk_create([pack_reading(site, 1, recent, volts=50.0)])
    assert data_start(case=case) == recent == data_start(site=site)
    PackReading.objects.bulk_create([pack_reading(site, 1, T0 + timedelta(minutes=3), volts=50.0)])
    refresh_all_rollups(start=T0, end=T0 + timedelta(hours=1))
    assert data_start(case=case) == T0 == data_start(site=site)  # the hour bucket of the first reading
    assert data_start(case=site.test_cases[(1, 2)]) is None
