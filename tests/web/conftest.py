from datetime import timedelta
from time import sleep

import pytest
from django.conf import settings
from django.core.signals import request_started
from django.db import connections
from django.utils import timezone

from assets.constants import CELL_BLOCKS_PER_CASE, pms_dock_number
from assets.models import Kind
from assets.services import component_install, site_position_get_or_create
from telemetry.models import DeviceKind, DeviceState, MpptReading, PackReading, PackState
from tests.factories import ComponentFactory, UserFactory, build_site

ROLES = {"manager": "Manager", "field": "Field engineer", "warehouse": "Warehouse"}

# `make test-replica`: DATABASE_REPLICA_URL names a streaming replica of the test cluster, mirrored onto the
# test database (tests/settings.py). The page tests then commit their rows (a transaction the replica
# cannot see would hide them) and their GETs read through the replica connection, each once the replica
# has replayed everything the primary wrote before it.
REPLICA = "replica" in settings.DATABASES


def pytest_collection_modifyitems(items):
    if not REPLICA:
        return
    for item in items:
        if "db" in getattr(item, "fixturenames", ()) or item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.django_db(transaction=True, databases=["default", "replica"]))


def wait_for_replica(**kwargs):
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        [written] = cursor.fetchone()
    with connections["replica"].cursor() as cursor:
        for _ in range(500):
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [written])
            if cursor.fetchone()[0]:
                return
            sleep(0.01)
    raise AssertionError(f"the replica has not replayed {written} in 5 s")


if REPLICA:
    request_started.connect(wait_for_replica)


@pytest.fixture
def users(db):
    users = {key: UserFactory(username=key, groups=[group]) for key, group in ROLES.items()}
    users["admin"] = UserFactory(username="admin", is_superuser=True, is_staff=True)
    users["nobody"] = UserFactory(username="nobody")
    return users


def client_for(client, user):
    client.force_login(user)
    return client


def pack_values(dock, *, volts=53.2, amps=-1.5, cell=3.80, weak_cell=None, open_cells=(), fet_open=()):
    cells = [cell] * CELL_BLOCKS_PER_CASE
    if weak_cell:
        cells[weak_cell - 1] = cell - 0.05
    for number in open_cells:
        cells[number - 1] = 0.01  # what an open cell reads
    return {
        "dock": dock,
        "volts": volts,
        "amps": amps,
        "temps": [30.0, 31.0, 32.5],
        "cell_volts": cells,
        "open_cells": list(open_cells),
        "fet_open": list(fet_open),
        "fet_temps": [33.0, 34.0],
    }


def add_readings(site, *, minutes=30, step_seconds=60, end=None, **values):
    """Readings every ``step_seconds`` over the last ``minutes`` for each installed case, and latest state."""
    end = end or timezone.now()
    readings, states = [], []
    for (cabinet, dock), case in site.test_cases.items():
        pms_dock = pms_dock_number(cabinet, dock)
        times = [end - timedelta(seconds=s) for s in range(0, minutes * 60, step_seconds)]
        for time in times:
            readings.append(
                PackReading(
                    case=case, site=site, time=time, utc_offset_minutes=420, **pack_values(pms_dock, **values)
                )
            )
        states.append(
            PackState(
                case=case,
                site=site,
                time=end,
                utc_offset_minutes=420,
                updated_at=end,
                **pack_values(pms_dock, **values),
            )
        )
    PackReading.objects.bulk_create(readings)
    PackState.objects.bulk_create(states)
    return readings


def add_mppt(site, *, minutes=30, end=None):
    end = end or timezone.now()
    device = ComponentFactory(kind=Kind.MPPT, configured_id=f"IT6415AD-{site.pk:02d}-001")
    component_install(
        confirm_incomplete=True,
        component=device,
        position=site_position_get_or_create(site=site, kind=Kind.MPPT, number=1),
        user=None,
    )
    values = {
        "site": site,
        "utc_offset_minutes": 420,
        "pv_volts": [48.0, 47.0],
        "pv_amps": [6.0, 5.0],
        "batt_volts": 55.1,
        "batt_amps": -1.6,
        "load_volts": [48.0, 48.0],
        "load_amps": [1.2, 1.0],
    }
    MpptReading.objects.bulk_create(
        MpptReading(device=device, time=end - timedelta(minutes=m), **values) for m in range(minutes)
    )
    DeviceState.objects.create(device=device, kind=DeviceKind.MPPT, time=end, updated_at=end, **values)
    return device


@pytest.fixture
def site(db):
    return build_site(cabinets=1, docks=4, pms_id="PMS-77-001", name="Chiang Mai North")
