"""ingest_payload on the real database: samples, bad records, duplicates, identity resolution, swaps."""

import json
from datetime import UTC, timedelta

import pytest
from django.db import connection

from assets import services as asset_services
from assets.models import Kind
from telemetry.models import (
    DeviceState,
    Discrepancy,
    InverterReading,
    LateRollupMinute,
    MpptReading,
    PackReading,
    PackState,
    QuarantinedRecord,
)
from telemetry.services import ingest_payload
from tests.factories import AcqBoardFactory, CaseFactory, ComponentFactory, build_site
from tests.telemetry.payloads import (
    ago,
    dataset,
    device_record,
    envelope,
    pack_record,
    sample_payload,
    site_sample,
)

pytestmark = pytest.mark.django_db
SAMPLE_TIME = ago(hours=1).replace(microsecond=32000)


def install_device(site, kind, device_id, at, number=1):
    device = ComponentFactory(kind=kind, configured_id=device_id)
    position = asset_services.site_position_get_or_create(site=site, kind=kind, number=number)
    asset_services.component_install(
        confirm_incomplete=True, component=device, position=position, user=None, at=at
    )
    return device


@pytest.fixture
def sample_site():
    """The master data the shared samples refer to, installed before the samples' time."""
    installed = SAMPLE_TIME - timedelta(days=30)
    site = build_site(docks=4, cases=False, pms_id="PMS-01-001", at=installed)
    for dock, serial in ((1, "0241"), (2, "0242")):
        case = CaseFactory(serial=serial)
        asset_services.component_install(
            confirm_incomplete=True,
            component=case,
            position=site.test_docks[(1, dock)],
            user=None,
            at=installed,
        )
    site.mppt = install_device(site, Kind.MPPT, "IT6415AD-01-001", installed)
    site.inverter = install_device(site, Kind.INVERTER, "SPI-B2-01-001", installed)
    return site


def test_the_pms_sample_stores_both_packs_with_every_value(sample_site):
    result = ingest_payload(raw=sample_payload("pms.json", SAMPLE_TIME), site=sample_site)

    assert (result.stored, result.duplicate, result.quarantined) == (2, 0, 0)
    reading = PackReading.objects.get(case__serial="0241")
    assert reading.time == SAMPLE_TIME
    assert reading.utc_offset_minutes == 420
    assert (reading.site_id, reading.dock) == (sample_site.id, 1)
    assert reading.volts == pytest.approx(55.1) and reading.amps == pytest.approx(-1.601)
    assert reading.temps == pytest.approx([35.0, 33.0, 34.0])
    assert reading.cell_volts == pytest.approx([3.92] * 13 + [3.91])
    assert reading.open_cells == [1, 6] and reading.fet_open == [1, 2]
    assert reading.fet_temps == pytest.approx([34.1, 33.5])
    assert PackReading.objects.get(case__serial="0242").open_cells == []
    assert PackState.objects.filter(site=sample_site).count() == 2
    assert not Discrepancy.objects.exists()


@pytest.mark.parametrize(
    ("sample", "model", "device_attr"),
    [("mppt.json", MpptReading, "mppt"), ("inverter.json", InverterReading, "inverter")],
)
def test_the_device_samples_store_one_reading_on_the_devices_site(sample_site, sample, model, device_attr):
    result = ingest_payload(raw=sample_payload(sample, SAMPLE_TIME), site=sample_site)

    assert (result.stored, result.quarantined) == (1, 0)
    reading = model.objects.get()
    assert reading.device_id == getattr(sample_site, device_attr).id
    assert (reading.site_id, reading.time, reading.utc_offset_minutes) == (sample_site.id, SAMPLE_TIME, 420)
    assert reading.pv_volts == pytest.approx([48.0, 48.0]) and reading.pv_amps == pytest.approx([6.0, 6.0])
    assert (reading.batt_volts, reading.batt_amps) == pytest.approx((55.1, -1.601))
    assert reading.load_volts == pytest.approx([48.0, 48.0]) and reading.load_amps == pytest.approx(
        [1.2, 1.2]
    )
    assert DeviceState.objects.get().kind == device_attr


def test_numbers_as_json_numbers_and_the_extended_time_form_are_accepted():
    site = build_site(docks=4, at=ago(days=3))
    case = site.test_cases[(1, 1)]
    record = pack_record(case.serial, 1, ago(hours=1), volts=54.25)
    record["time_local"] = ago(hours=1).astimezone(UTC).isoformat()
    record["pack"]["cell"]["volts"] = [3.9] * 14

    result = ingest_payload(raw=envelope(dataset("pms", site.pms_id, [record])), site=site)

    assert result.stored == 1
    assert PackReading.objects.get().volts == pytest.approx(54.25)


def mutate(record, path, value):
    *parents, last = path
    target = record
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (["pack", "volts"], "high", "datasets[0].data[1].pack.volts: expected `float`, got `str`"),
        (["pack", "dock"], True, "datasets[0].data[1].pack.dock: expected `int`, got `bool`"),
        (
            ["pack", "cell", "volts"],
            ["3.9"] * 13,
            "datasets[0].data[1].pack.cell.volts: expected 14 values, got 13",
        ),
        (["pack", "temp"], ["30"] * 4, "datasets[0].data[1].pack.temp: expected 3 values, got 4"),
        (["pack", "fet", "temp"], ["30"], "datasets[0].data[1].pack.fet.temp: expected 2 values, got 1"),
        (["pack", "cell", "open"], [15], "datasets[0].data[1].pack.cell.open: 15 is not between 1 and 14"),
        (["pack", "amps"], "nan", "datasets[0].data[1].pack.amps: expected `float` >= -1000000.0"),
        (["pack", "cell"], DELETE, "datasets[0].data[1].pack: object missing required field `cell`"),
        (["time_local"], DELETE, "datasets[0].data[1]: object missing required field `time_local`"),
        (["time_local"], "yesterday", "datasets[0].data[1].time_local: 'yesterday' is not an ISO 8601 time"),
        (
            ["time_local"],
            "20190209T150006",
            "datasets[0].data[1].time_local: '20190209T150006' has no UTC offset",
        ),
        (["pack", "id"], "9999", "datasets[0].data[1].pack.id: '9999' is neither a known Case id"),
    ],
)
def test_a_bad_record_is_quarantined_with_its_place_and_problem_and_its_neighbours_are_stored(
    path, value, reason
):
    site = build_site(docks=4, at=ago(days=3))
    records = [pack_record(site.test_cases[(1, dock)].serial, dock, ago(minutes=5)) for dock in (1, 2, 3)]
    mutate(records[1], path, value)

    result = ingest_payload(raw=envelope(dataset("pms", site.pms_id, records)), site=site)

    assert (result.stored, result.quarantined) == (2, 1)
    quarantined = QuarantinedRecord.objects.get()
    assert quarantined.reason.startswith(reason)
    assert (quarantined.kind, quarantined.device_id, quarantined.record_index) == ("pms", site.pms_id, 1)
    assert json.loads(quarantined.record) == records[1]
    assert set(PackReading.objects.values_list("dock", flat=True)) == {1, 3}


def test_datasets_of_unknown_devices_are_quarantined_and_the_known_ones_stored(sample_site):
    at = ago(minutes=2)
    payload = envelope(
        dataset("pms", "PMS-99-999", [pack_record("0241", 1, at)]),
        dataset("mppt", "IT-UNKNOWN", [device_record(at)]),
        dataset("inverter", "SPI-B2-01-001", [device_record(at), device_record(at, batt_volts="x")]),
    )

    result = ingest_payload(raw=payload)

    assert (result.stored, result.quarantined) == (1, 3)
    reasons = sorted(QuarantinedRecord.objects.values_list("reason", flat=True))
    assert reasons == [
        "datasets[0].pms.id: 'PMS-99-999' is not the PMS id of any site",
        "datasets[1].mppt.id: 'IT-UNKNOWN' is not the id of any mppt",
        "datasets[2].data[1].batt.volts: expected `float`, got `str`",
    ]
    assert InverterReading.objects.get().site_id == sample_site.id


def test_a_pms_dataset_of_another_site_is_not_stored_for_this_gateways_site():
    site, other = build_site(docks=4, at=ago(days=2)), build_site(docks=4, at=ago(days=2))

    result = ingest_payload(raw=site_sample(other, ago(minutes=1)), site=site)

    assert (result.stored, result.quarantined) == (0, 4)
    assert {q.reason for q in QuarantinedRecord.objects.all()} == {
        f"datasets[0].pms.id: {other.pms_id!r} is not the PMS of {site.name}"
    }


def test_a_resent_payload_is_counted_as_duplicates_and_stored_once():
    site = build_site(docks=4, at=ago(days=2))
    first = site_sample(site, ago(minutes=2))
    ingest_payload(raw=first, site=site)

    again = ingest_payload(raw=first, site=site)
    overlapping = envelope(
        dataset(
            "pms",
            site.pms_id,
            [
                *json.loads(first)["datasets"][0]["data"],
                *json.loads(site_sample(site, ago(minutes=1)))["datasets"][0]["data"],
            ],
        ),
    )
    partly_new = ingest_payload(raw=overlapping, site=site)

    assert (again.stored, again.duplicate) == (0, 4)
    assert (partly_new.stored, partly_new.duplicate) == (4, 4)
    assert PackReading.objects.count() == 8


def test_the_latest_state_keeps_the_newest_reading_when_an_older_one_arrives_late():
    site = build_site(docks=4, at=ago(days=2))
    serial = site.test_cases[(1, 1)].serial
    newer, older = ago(minutes=1), ago(hours=1)
    ingest_payload(raw=envelope(dataset("pms", site.pms_id, [pack_record(serial, 1, newer, volts="53.0")])))
    ingest_payload(raw=envelope(dataset("pms", site.pms_id, [pack_record(serial, 1, older, volts="50.0")])))

    state = PackState.objects.get(case__serial=serial)
    assert (state.time, state.volts) == (newer, pytest.approx(53.0))


def test_a_reading_repeated_within_a_new_payload_is_stored_once_with_its_neighbours():
    site = build_site(docks=4, at=ago(days=2))
    serial, neighbour = site.test_cases[(1, 1)].serial, site.test_cases[(1, 2)].serial
    at = ago(minutes=1)
    payload = envelope(
        dataset(
            "pms",
            site.pms_id,
            [pack_record(serial, 1, at), pack_record(neighbour, 2, at), pack_record(serial, 1, at)],
        ),
    )

    result = ingest_payload(raw=payload, site=site)

    assert (result.stored, result.duplicate, result.quarantined) == (2, 1, 0)
    assert sorted(PackReading.objects.values_list("dock", flat=True)) == [1, 2]
    assert PackState.objects.count() == 2


@pytest.mark.parametrize("partly_resent", [False, True], ids=["new", "partly re-sent"])
def test_the_latest_state_takes_the_newest_reading_of_a_payload_whatever_its_order(partly_resent):
    site = build_site(docks=4, at=ago(days=2))
    serial = site.test_cases[(1, 1)].serial
    stored_before, older, newest = ago(hours=2), ago(hours=1), ago(minutes=1)
    ingest_payload(raw=envelope(dataset("pms", site.pms_id, [pack_record(serial, 1, stored_before)])))
    records = [
        pack_record(serial, 1, older, volts="50.0"),
        pack_record(serial, 1, newest, volts="53.0"),
        pack_record(serial, 1, ago(minutes=30), volts="51.0"),
    ]
    if partly_resent:
        records.append(pack_record(serial, 1, stored_before))

    result = ingest_payload(raw=envelope(dataset("pms", site.pms_id, records)))

    assert (result.stored, result.duplicate) == (3, int(partly_resent))
    state = PackState.objects.get(case__serial=serial)
    assert (state.time, state.volts) == (newest, pytest.approx(53.0))


def test_an_acquisition_board_id_resolves_to_the_case_it_was_in_at_the_readings_time():
    moved_at = ago(days=1)
    site = build_site(docks=4, at=ago(days=5))
    case_a, case_b = site.test_cases[(1, 1)], site.test_cases[(1, 2)]
    board = AcqBoardFactory()
    asset_services.component_install(
        confirm_incomplete=True,
        component=board,
        position=asset_services.child_position_get(parent=case_a, kind=Kind.ACQ_BOARD),
        user=None,
        at=ago(days=4),
    )
    asset_services.component_remove(component=board, user=None, reason="moved", at=moved_at)
    asset_services.component_install(
        confirm_incomplete=True,
        component=board,
        position=asset_services.child_position_get(parent=case_b, kind=Kind.ACQ_BOARD),
        user=None,
        at=moved_at,
    )
    payload = envelope(
        dataset(
            "pms",
            site.pms_id,
            [
                pack_record(board.serial, 1, moved_at - timedelta(hours=1)),
                pack_record(board.serial, 2, moved_at + timedelta(hours=1)),
                pack_record(board.serial, 1, ago(days=6)),
            ],
        )
    )

    result = ingest_payload(raw=payload, site=site)

    assert (result.stored, result.quarantined) == (2, 1)
    assert dict(PackReading.objects.values_list("dock", "case_id")) == {1: case_a.id, 2: case_b.id}
    assert "was not in any case at" in QuarantinedRecord.objects.get().reason
    assert not Discrepancy.objects.exists()


def test_a_case_reporting_from_another_dock_is_stored_and_raises_one_discrepancy():
    site = build_site(docks=4, at=ago(days=2))
    case = site.test_cases[(1, 1)]
    times = [ago(minutes=30), ago(minutes=20), ago(minutes=10)]

    for at in times:
        ingest_payload(
            raw=envelope(dataset("pms", site.pms_id, [pack_record(case.serial, 3, at)])), site=site
        )

    assert PackReading.objects.filter(case=case, dock=3).count() == 3
    discrepancy = Discrepancy.objects.get()
    assert discrepancy.kind == Discrepancy.Kind.OTHER_CASE
    assert (discrepancy.case_id, discrepancy.observed_site_id, discrepancy.observed_dock) == (
        case.id,
        site.id,
        3,
    )
    assert (discrepancy.recorded_site_id, discrepancy.recorded_dock) == (site.id, 1)
    assert (discrepancy.first_seen, discrepancy.last_seen, discrepancy.sample_count) == (
        times[0],
        times[-1],
        3,
    )
    assert discrepancy.status == Discrepancy.Status.OPEN


def test_a_case_reporting_from_a_pms_it_is_not_installed_in_says_where_it_is_recorded():
    home, elsewhere = build_site(docks=4, at=ago(days=2)), build_site(docks=4, at=ago(days=2))
    case = home.test_cases[(1, 2)]
    stray = CaseFactory()

    payload = envelope(
        dataset(
            "pms",
            elsewhere.pms_id,
            [pack_record(case.serial, 1, ago(minutes=1)), pack_record(stray.serial, 2, ago(minutes=1))],
        ),
    )
    result = ingest_payload(raw=payload)

    assert result.stored == 2
    found = {d.case_id: d for d in Discrepancy.objects.all()}
    assert (found[case.id].kind, found[stray.id].kind) == (
        Discrepancy.Kind.OTHER_SITE,
        Discrepancy.Kind.NOT_INSTALLED,
    )
    assert (found[case.id].recorded_site_id, found[case.id].recorded_dock) == (home.id, 2)
    assert (found[stray.id].recorded_site_id, found[stray.id].recorded_dock) == (None, None)
    assert PackReading.objects.get(case=case).site_id == elsewhere.id


def test_readings_and_rollups_are_timescaledb_hypertables():
    with connection.cursor() as cursor:
        cursor.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
        names = {row[0] for row in cursor.fetchall()}
    assert {
        "telemetry_packreading",
        "telemetry_mpptreading",
        "telemetry_inverterreading",
        "telemetry_packrollup1m",
        "telemetry_packrollup1h",
        "telemetry_devicerollup1m",
        "telemetry_devicerollup1h",
    } <= names


def test_an_ingest_notes_the_minutes_of_readings_later_than_beats_refresh_as_due(settings):
    settings.TELEMETRY_ROLLUP_1M_LATENESS = timedelta(minutes=10)
    site = build_site(docks=4, at=ago(days=2))
    backlog, live = ago(days=1), ago(minutes=2)

    ingest_payload(raw=site_sample(site, backlog), site=site)
    ingest_payload(raw=site_sample(site, live), site=site)
    ingest_payload(raw=site_sample(site, backlog), site=site)  # re-sent: nothing stored, nothing noted

    minute = backlog.astimezone(UTC).replace(second=0, microsecond=0)
    assert list(LateRollupMinute.objects.values_list("minute", flat=True)) == [minute]


def test_packs_not_cached_yet_are_stored_after_the_cached_ones_with_resends_and_discrepancies_counted_once():
    """The cache holds the first payload's pack; the second payload's other packs wait for a second COPY."""
    site = build_site(docks=4, at=ago(days=1))
    first, second, third = (site.test_cases[(1, dock)] for dock in (1, 2, 3))
    t1, t2, t3 = ago(minutes=30), ago(minutes=29), ago(minutes=28)
    assert ingest_payload(raw=site_sample(site, t1, docks={1}), site=site).stored == 1

    records = [
        pack_record(first.serial, 1, t1),  # re-sent
        pack_record(first.serial, 1, t2),
        pack_record(second.serial, 2, t2),  # not cached yet
        pack_record(third.serial, 2, t2),  # not cached yet, and not where the records put it
        pack_record(first.serial, 3, t3),  # cached, and not where the records put it
    ]
    result = ingest_payload(raw=envelope(dataset("pms", site.pms_id, records)), site=site)

    assert (result.stored, result.duplicate, result.quarantined) == (4, 1, 0)
    assert PackReading.objects.count() == 5
    latest = dict(PackState.objects.values_list("case_id", "time"))
    assert latest == {first.id: t3, second.id: t2, third.id: t2}
    seen = {(d.case_id, d.observed_dock): d.sample_count for d in Discrepancy.objects.filter(status="open")}
    assert seen == {(third.id, 2): 1, (first.id, 3): 1}
