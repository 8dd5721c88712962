"""CSV export rows read directly: the columns, and the rows of a known set of readings."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from assets.models import Kind
from telemetry.export import DEVICE_CSV_HEADER, PACK_CSV_HEADER, device_csv_rows, pack_csv_rows
from telemetry.models import InverterReading, MpptReading, PackReading
from tests.factories import ComponentFactory, build_site

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CELLS = [3.8 + n / 100 for n in range(14)]
BANGKOK = ZoneInfo("Asia/Bangkok")


def test_the_pack_columns():
    assert [
        "time_local",
        "time_utc",
        "case_id",
        "cabinet",
        "dock",
        "reported_dock",
        "volts",
        "amps",
        "temp_1",
        "temp_2",
        "temp_3",
        *(f"cell_{n}_volts" for n in range(1, 15)),
        "open_cells",
        "open_fets",
        "fet_1_temp",
        "fet_2_temp",
    ] == PACK_CSV_HEADER


def test_the_device_columns():
    assert DEVICE_CSV_HEADER == [
        "time_local",
        "time_utc",
        "device_id",
        "pv_1_volts",
        "pv_2_volts",
        "pv_1_amps",
        "pv_2_amps",
        "batt_volts",
        "batt_amps",
        "load_1_volts",
        "load_2_volts",
        "load_1_amps",
        "load_2_amps",
    ]


def reading(site, dock, at, **values):
    fields = {
        "dock": dock,
        "volts": 54.25,
        "amps": -1.5,
        "temps": [30.0, 31.0, 32.5],
        "cell_volts": CELLS,
        "open_cells": [],
        "fet_open": [],
        "fet_temps": [33.0, 34.5],
    }
    return PackReading(
        case=site.test_cases[(1, dock)], site=site, time=at, utc_offset_minutes=420, **{**fields, **values}
    )


@pytest.fixture
def site():
    """Readings of docks 1 and 2 in [T0, T0 + 1 min), one just outside, and one from another site."""
    site = build_site(cabinets=1, docks=4, at=T0 - timedelta(days=1))
    other = build_site(cabinets=1, docks=4, at=T0 - timedelta(days=1))
    PackReading.objects.bulk_create(
        [
            reading(site, 2, T0, open_cells=[3, 14], fet_open=[2]),
            reading(site, 1, T0 + timedelta(seconds=5), volts=54.5),
            reading(site, 1, T0),
            reading(site, 1, T0 + timedelta(minutes=1)),  # the end of the range is not in it
            reading(other, 1, T0),
        ]
    )
    return site


def test_pack_rows_of_a_site_oldest_first_with_every_column(site):
    rows = list(pack_csv_rows(start=T0, end=T0 + timedelta(minutes=1), zone=BANGKOK, site=site))
    first, second = site.test_cases[(1, 1)].serial, site.test_cases[(1, 2)].serial
    assert [row[:7] for row in rows] == [
        ["2026-11-20T17:00:00+07:00", "2026-11-20T10:00:00+00:00", first, 1, 1, 1, 54.25],
        [
            "2026-11-20T17:00:00+07:00",
            "2026-11-20T10:00:00+00:00",
            second,
            1,
            2,
            2,
            54.25,
        ],  # same time: by case
        ["2026-11-20T17:00:05+07:00", "2026-11-20T10:00:05+00:00", first, 1, 1, 1, 54.5],
    ]
    assert rows[1] == [
        "2026-11-20T17:00:00+07:00",
        "2026-11-20T10:00:00+00:00",
        second,
        1,
        2,
        2,
        54.25,
        -1.5,
        30.0,
        31.0,
        32.5,
        *[pytest.approx(volts) for volts in CELLS],
        "3 14",
        "2",
        33.0,
        34.5,
    ]
    assert all(len(row) == len(PACK_CSV_HEADER) for row in rows)
    assert rows[0][-4:-2] == ["", ""]  # no open cell, no open FET


def test_pack_rows_of_a_case(site):
    case = site.test_cases[(1, 1)]
    rows = list(pack_csv_rows(start=T0, end=T0 + timedelta(hours=1), zone=UTC, case=case))
    assert [(row[0], row[1], row[2]) for row in rows] == [
        ("2026-11-20T10:00:00+00:00", "2026-11-20T10:00:00+00:00", case.serial),
        ("2026-11-20T10:00:05+00:00", "2026-11-20T10:00:05+00:00", case.serial),
        ("2026-11-20T10:01:00+00:00", "2026-11-20T10:01:00+00:00", case.serial),
    ]


@pytest.mark.parametrize(("kind", "model"), [(Kind.MPPT, MpptReading), (Kind.INVERTER, InverterReading)])
def test_device_rows(kind, model):
    site = build_site(cabinets=1, docks=4, cases=False)
    device = ComponentFactory(kind=kind, serial="SN-9", configured_id="")
    values = {
        "site": site,
        "utc_offset_minutes": 420,
        "pv_volts": [100.0, 50.0],
        "pv_amps": [2.0, 4.0],
        "batt_volts": 54.0,
        "batt_amps": 10.0,
        "load_volts": [230.0, 229.0],
        "load_amps": [1.0, 0.5],
    }
    model.objects.create(device=device, time=T0 + timedelta(seconds=5), **values)
    model.objects.create(device=device, time=T0, **{**values, "batt_amps": -3.0})
    rows = list(device_csv_rows(start=T0, end=T0 + timedelta(minutes=1), zone=BANGKOK, device=device))
    local = ["2026-11-20T17:00:00+07:00", "2026-11-20T17:00:05+07:00"]
    assert rows == [
        [
            local[0],
            "2026-11-20T10:00:00+00:00",
            "SN-9",
            100.0,
            50.0,
            2.0,
            4.0,
            54.0,
            -3.0,
            230.0,
            229.0,
            1.0,
            0.5,
        ],
        [
            local[1],
            "2026-11-20T10:00:05+00:00",
            "SN-9",
            100.0,
            50.0,
            2.0,
            4.0,
            54.0,
            10.0,
            230.0,
            229.0,
            1.0,
            0.5,
        ],
    ]
    assert all(len(row) == len(DEVICE_CSV_HEADER) for row in rows)
