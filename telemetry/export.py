"""Readings as CSV rows, for the export links of the site, case and device pages."""

from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo

from assets.constants import (
    CELL_NUMBERS,
    FETS_PER_BOARD,
    LOAD_OUTPUTS,
    PACK_TEMPS,
    PV_INPUTS,
    split_pms_dock_number,
)
from assets.models import Component, Kind, Site
from telemetry.models import InverterReading, MpptReading, PackReading


def _numbered(template, count):
    return [template.format(n=n) for n in range(1, count + 1)]


# Each row's time twice: in the site's (or warehouse's) zone with its offset, and in UTC.
TIME_COLUMNS = ["time_local", "time_utc"]
PACK_CSV_HEADER = [
    *TIME_COLUMNS,
    "case_id",
    # The dock's cabinet and its number on that cabinet's busbar (C2-D11), and the PMS-wide number reported.
    "cabinet",
    "dock",
    "reported_dock",
    "volts",
    "amps",
    *_numbered("temp_{n}", PACK_TEMPS),
    *(f"cell_{n}_volts" for n in CELL_NUMBERS),
    "open_cells",
    "open_fets",
    *_numbered("fet_{n}_temp", FETS_PER_BOARD),
]
DEVICE_CSV_HEADER = [
    *TIME_COLUMNS,
    "device_id",
    *_numbered("pv_{n}_volts", PV_INPUTS),
    *_numbered("pv_{n}_amps", PV_INPUTS),
    "batt_volts",
    "batt_amps",
    *_numbered("load_{n}_volts", LOAD_OUTPUTS),
    *_numbered("load_{n}_amps", LOAD_OUTPUTS),
]
EXPORT_CHUNK = 2000


def _joined(numbers):
    return " ".join(str(number) for number in numbers)


def _times(time, zone):
    """The TIME_COLUMNS of a reading's time: "2026-11-25T14:05:00+07:00", "2026-11-25T07:05:00+00:00"."""
    return [time.astimezone(zone).isoformat(), time.astimezone(UTC).isoformat()]


def pack_csv_rows(
    *,
    start: datetime,
    end: datetime,
    zone: tzinfo,
    site: Site | None = None,
    case: Component | None = None,
) -> Iterator[list]:
    """The pack readings of ``site`` (or of one ``case``, wherever it was) in [start, end) as CSV rows of
    PACK_CSV_HEADER, oldest first, read in chunks through a server-side cursor."""
    readings = PackReading.objects.filter(time__gte=start, time__lt=end)
    readings = readings.filter(case=case) if case is not None else readings.filter(site=site)
    values = readings.order_by("time", "case_id").values_list(
        "time",
        "case__serial",
        "dock",
        "volts",
        "amps",
        "temps",
        "cell_volts",
        "open_cells",
        "fet_open",
        "fet_temps",
    )
    for time, serial, dock, volts, amps, temps, cells, open_cells, fet_open, fet_temps in values.iterator(
        chunk_size=EXPORT_CHUNK
    ):
        yield [
            *_times(time, zone),
            serial,
            *split_pms_dock_number(dock),
            dock,
            volts,
            amps,
            *temps,
            *cells,
            _joined(open_cells),
            _joined(fet_open),
            *fet_temps,
        ]


def device_csv_rows(*, start: datetime, end: datetime, zone: tzinfo, device: Component) -> Iterator[list]:
    """One MPPT's or inverter's readings in [start, end) as CSV rows of DEVICE_CSV_HEADER, oldest first, in
    chunks."""
    model = MpptReading if device.kind == Kind.MPPT else InverterReading
    values = (
        model.objects.filter(device=device, time__gte=start, time__lt=end)
        .order_by("time")
        .values_list("time", "pv_volts", "pv_amps", "batt_volts", "batt_amps", "load_volts", "load_amps")
    )
    name = device.configured_id or device.serial
    for time, pv_volts, pv_amps, batt_volts, batt_amps, load_volts, load_amps in values.iterator(
        chunk_size=EXPORT_CHUNK
    ):
        yield [*_times(time, zone), name, *pv_volts, *pv_amps, batt_volts, batt_amps, *load_volts, *load_amps]
