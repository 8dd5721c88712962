"""A gateway whose clock is wrong (reset to 1970 after a power cut, far in the future, years behind): its
readings go to quarantine blaming the clock, the rest are stored, and the pages keep answering. The database
refuses implausible times too."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from telemetry.models import PackReading, PackState, QuarantinedRecord
from telemetry.services import ingest_payload
from tests.factories import UserFactory, build_site
from tests.telemetry.payloads import ago, dataset, envelope, pack_record

pytestmark = pytest.mark.django_db

WRONG_CLOCKS = {
    "1970": "19700101T000005.000+0700",
    "9999": "9999-12-31T23:59:59.999999-14:00",
    "2019": "20190209T150006.032+0700",  # the spec's samples
}


def test_readings_of_a_wrong_clock_are_quarantined_blaming_it_and_the_right_one_is_stored(client):
    site = build_site(docks=4, at=ago(days=30))
    case, at = site.test_cases[(1, 1)], ago(minutes=1)
    now_reading = pack_record(case.serial, 1, at)
    wrong = [{**pack_record(case.serial, 1, at), "time_local": text} for text in WRONG_CLOCKS.values()]

    result = ingest_payload(raw=envelope(dataset("pms", site.pms_id, [*wrong, now_reading])), site=site)

    assert (result.stored, result.quarantined) == (1, 3)
    reasons = list(QuarantinedRecord.objects.order_by("record_index").values_list("reason", flat=True))
    assert [reason.split(": ", 1)[0] for reason in reasons] == [
        f"datasets[0].data[{index}].time_local" for index in range(3)
    ]
    assert all("the gateway clock may be wrong" in reason for reason in reasons), reasons
    assert "1970-01-01T00:00:05+07:00 is 56 years before now" in reasons[0]
    assert "after now" in reasons[1] and "before now" in reasons[2]
    assert PackReading.objects.get().time == at
    assert PackState.objects.get().time == at

    client.force_login(UserFactory(username="manager", groups=["Manager"]))
    assert client.get(reverse("web:fleet")).status_code == 200
    assert client.get(reverse("web:site", args=[site.pk])).status_code == 200


PACK_COLUMNS = (
    "case_id, site_id, time, utc_offset_minutes, dock, volts, amps, temps, cell_volts, open_cells, fet_open, "
    "fet_temps"
)
PACK_VALUES = "%(case)s, %(site)s, %(time)s, 0, 1, 53, -1, '{30,30,30}', %(cells)s, '{}', '{}', '{30,30}'"
INSERTS = {
    "telemetry_packreading": f"INSERT INTO telemetry_packreading ({PACK_COLUMNS}) VALUES ({PACK_VALUES})",
    "telemetry_packstate": (
        f"INSERT INTO telemetry_packstate ({PACK_COLUMNS}, updated_at) VALUES ({PACK_VALUES}, now())"
    ),
}


@pytest.mark.parametrize("table", INSERTS, ids=["reading", "latest state"])
@pytest.mark.parametrize("time", ["10000-01-01 00:00:00+00", "1999-12-31 23:59:59+00"])
def test_the_database_refuses_a_pack_time_outside_2000_to_2100(table, time):
    site = build_site(docks=4, at=ago(days=30))
    values = {"case": site.test_cases[(1, 1)].id, "site": site.id, "time": time, "cells": [3.8] * 14}

    with (
        pytest.raises(IntegrityError, match=f"{table}_time_plausible"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(INSERTS[table], values)
    with connection.cursor() as cursor:
        cursor.execute(INSERTS[table], {**values, "time": "2099-12-31 23:59:59+00"})


@pytest.mark.django_db(transaction=True)
def test_the_migration_deletes_rows_a_wrong_clock_stored_before_and_bounds_the_tables_with_data():
    executor = MigrationExecutor(connection)
    executor.migrate([("telemetry", "0005_discrepancy_resolved_with")])
    site = build_site(docks=4, at=ago(days=30))
    values = {"case": site.test_cases[(1, 1)].id, "site": site.id, "cells": [3.8] * 14}
    with connection.cursor() as cursor:
        for time in ("10000-01-01 00:00:00+00", "1970-01-01 00:00:05+00", "2026-11-01 00:00:00+00"):
            cursor.execute(INSERTS["telemetry_packreading"], {**values, "time": time})
        cursor.execute(INSERTS["telemetry_packstate"], {**values, "time": "10000-01-01 00:00:00+00"})

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert list(PackReading.objects.values_list("time", flat=True)) == [datetime(2026, 11, 1, tzinfo=UTC)]
    assert not PackState.objects.exists()
    # Into the chunk the deleted row left behind: the constraint holds in the chunks made before it, too.
    with (
        pytest.raises(IntegrityError, match="telemetry_packreading_time_plausible"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(INSERTS["telemetry_packreading"], {**values, "time": "10000-01-01 00:00:00+00"})
