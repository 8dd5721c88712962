"""Payload builders for the telemetry tests, in the gateway's own format (pms-data-spec.md)."""

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from assets.constants import CELL_BLOCKS_PER_CASE, pms_dock_number

BANGKOK = timezone(timedelta(hours=7))
SAMPLES = Path(__file__).resolve().parent / "samples"
SAMPLES_TIME_LOCAL = "20190209T150006.032+0700"  # of every record of the samples


def time_local(moment):
    """The gateway's ISO 8601 basic form, e.g. "20190209T150006.032+0700"."""
    moment = moment.astimezone(BANGKOK)
    return moment.strftime("%Y%m%dT%H%M%S.") + f"{moment.microsecond // 1000:03d}" + "+0700"


def pack_record(pack_id, dock, at, *, volts="55.1", cells=None, **pack_fields):
    pack = {
        "id": pack_id,
        "dock": dock,
        "volts": volts,
        "amps": "-1.601",
        "temp": ["35.0", "33.0", "34.0"],
        "cell": {"open": [], "volts": cells or ["3.92"] * CELL_BLOCKS_PER_CASE},
        "fet": {"open": [], "temp": ["34.1", "33.5"]},
        **pack_fields,
    }
    return {"time_local": time_local(at), "pack": pack}


def device_record(at, *, batt_volts="55.1"):
    return {
        "time_local": time_local(at),
        "pv": {"volts": ["48.000", "48.000"], "amps": ["6.0", "6.0"]},
        "batt": {"volts": batt_volts, "amps": "-1.601"},
        "load": {"volts": ["48.000", "48.000"], "amps": ["1.2", "1.2"]},
    }


def dataset(kind, device_id, records):
    return {kind: {"id": device_id}, "data": records}


def envelope(*datasets):
    return json.dumps({"datasets": list(datasets)}).encode()


def site_sample(site, at, *, docks=None):
    """One PMS sample of every case of a ``build_site`` site, as its gateway would send it."""
    records = [
        pack_record(case.serial, pms_dock_number(cabinet, dock), at)
        for (cabinet, dock), case in sorted(site.test_cases.items())
        if docks is None or pms_dock_number(cabinet, dock) in docks
    ]
    return envelope(dataset("pms", site.pms_id, records))


def ago(**delta):
    return datetime.now(UTC).replace(microsecond=0) - timedelta(**delta)


def sample_payload(name, at):
    """The spec's sample payload ``name`` (tests/telemetry/samples) with its records' time moved to ``at``:
    their own 2019 time is older than any reading ingest stores."""
    return (SAMPLES / name).read_bytes().replace(SAMPLES_TIME_LOCAL.encode(), time_local(at).encode())
