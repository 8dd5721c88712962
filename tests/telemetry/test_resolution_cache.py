"""Identity resolution is cached per process under the master data's version: a change recorded in assets
is honoured by every payload ingested after it, in the same process."""

import pytest
from django.db import connection, transaction

from assets import services as asset_services
from assets.models import Kind, Status
from telemetry.models import Discrepancy, MpptReading, PackReading, QuarantinedRecord
from telemetry.services import ingest_payload
from tests.factories import AcqBoardFactory, CaseFactory, ComponentFactory, build_site
from tests.telemetry.payloads import ago, dataset, device_record, envelope, pack_record

pytestmark = pytest.mark.django_db


def master_data_version():
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM assets_master_data_version")
        return cursor.fetchone()[0]


def ingest(site, *records):
    return ingest_payload(raw=envelope(dataset("pms", site.pms_id, list(records))), site=site)


def test_a_case_swap_recorded_after_an_ingest_is_honoured_by_the_next_ingest():
    site = build_site(docks=4, at=ago(days=2))
    dock, old_case, new_case = site.test_docks[(1, 1)], site.test_cases[(1, 1)], CaseFactory()
    before, swapped_at, after = ago(hours=2), ago(hours=1), ago(minutes=30)
    ingest(site, pack_record(old_case.serial, 1, before), pack_record(new_case.serial, 1, before))
    assert Discrepancy.objects.get().case_id == new_case.id  # not installed anywhere yet

    asset_services.component_swap(
        confirm_incomplete=True,
        position=dock,
        old_component=old_case,
        new_component=new_case,
        user=None,
        reason="Weak cell",
        old_component_status=Status.FAULTY,
        at=swapped_at,
    )
    result = ingest(site, pack_record(new_case.serial, 1, after), pack_record(old_case.serial, 1, after))

    assert result.stored == 2
    new_case_discrepancy = Discrepancy.objects.get(case=new_case)
    assert (new_case_discrepancy.sample_count, new_case_discrepancy.last_seen) == (1, before)
    old_case_discrepancy = Discrepancy.objects.get(case=old_case)
    assert old_case_discrepancy.kind == Discrepancy.Kind.NOT_INSTALLED
    assert (old_case_discrepancy.recorded_site_id, old_case_discrepancy.recorded_dock) == (None, None)


def test_an_acquisition_board_moved_after_an_ingest_resolves_to_its_new_case_in_the_next_ingest():
    site = build_site(docks=4, at=ago(days=2))
    case_a, case_b = site.test_cases[(1, 1)], site.test_cases[(1, 2)]
    board = AcqBoardFactory()
    asset_services.component_install(
        confirm_incomplete=True,
        component=board,
        position=asset_services.child_position_get(parent=case_a, kind=Kind.ACQ_BOARD),
        user=None,
        at=ago(days=1),
    )
    earlier, before, moved_at, after = ago(hours=3), ago(hours=2), ago(hours=1), ago(minutes=30)
    ingest(site, pack_record(board.serial, 1, before))

    asset_services.component_remove(component=board, user=None, reason="Moved", at=moved_at)
    asset_services.component_install(
        confirm_incomplete=True,
        component=board,
        position=asset_services.child_position_get(parent=case_b, kind=Kind.ACQ_BOARD),
        user=None,
        at=moved_at,
    )
    ingest(site, pack_record(board.serial, 2, after), pack_record(board.serial, 1, earlier))

    assert sorted(PackReading.objects.values_list("time", "case_id")) == [
        (earlier, case_a.id),
        (before, case_a.id),
        (after, case_b.id),
    ]
    assert not Discrepancy.objects.exists()


def test_a_corrected_serial_resolves_the_pack_id_that_was_unknown_before():
    site = build_site(docks=4, at=ago(days=2))
    case = site.test_cases[(1, 3)]
    real_id = case.serial + "X"
    first = ingest(site, pack_record(real_id, 3, ago(minutes=20)))
    assert (first.stored, QuarantinedRecord.objects.count()) == (0, 1)

    asset_services.component_update(component=case, user=None, reason="Typo at receipt", serial=real_id)
    second = ingest(site, pack_record(real_id, 3, ago(minutes=10)))

    assert second.stored == 1
    assert PackReading.objects.get().case_id == case.id


def test_an_mppt_installed_after_an_ingest_is_filed_under_its_site_in_the_next_ingest():
    site = build_site(docks=4, at=ago(days=2))
    mppt = ComponentFactory(kind=Kind.MPPT, configured_id="IT6415AD-09-001")
    before, installed_at, after = ago(hours=2), ago(hours=1), ago(minutes=30)

    def ingest_from_file(at):
        return ingest_payload(raw=envelope(dataset("mppt", mppt.configured_id, [device_record(at)])))

    assert ingest_from_file(before).quarantined == 1
    asset_services.component_install(
        confirm_incomplete=True,
        component=mppt,
        position=asset_services.site_position_get_or_create(site=site, kind=Kind.MPPT, number=1),
        user=None,
        at=installed_at,
    )

    assert ingest_from_file(after).stored == 1
    assert MpptReading.objects.get().site_id == site.id


def test_a_rolled_back_change_never_lends_its_version_to_a_later_one():
    site = build_site(docks=4, at=ago(days=2))
    case = site.test_cases[(1, 1)]
    with pytest.raises(RuntimeError), transaction.atomic():
        asset_services.component_update(component=case, user=None, notes="first")
        rolled_back = master_data_version()
        raise RuntimeError("abandoned")

    asset_services.component_update(component=case, user=None, notes="second")

    assert master_data_version() != rolled_back


def _create_site(site):
    return lambda: asset_services.site_create(name="North", pms_id="PMS-77-001", user=None)


def _create_position(site):
    return lambda: asset_services.site_position_get_or_create(site=site, kind=Kind.INVERTER, number=1)


def _edit_component(site):
    case = site.test_cases[(1, 1)]
    return lambda: asset_services.component_update(component=case, user=None, notes="Dented lid")


def _close_installation(site):
    case = site.test_cases[(1, 1)]
    return lambda: asset_services.component_remove(
        component=case, user=None, reason="Inspection", at=ago(minutes=1)
    )


def _open_installation(site):
    asset_services.component_remove(
        component=site.test_cases[(1, 1)], user=None, reason="Inspection", at=ago(minutes=2)
    )
    case, dock = CaseFactory(), site.test_docks[(1, 1)]
    return lambda: asset_services.component_install(
        confirm_incomplete=True, component=case, position=dock, user=None, at=ago(minutes=1)
    )


@pytest.mark.parametrize(
    "prepare", [_create_site, _create_position, _edit_component, _close_installation, _open_installation]
)
def test_every_kind_of_master_data_write_changes_the_version(prepare):
    site = build_site(docks=4, at=ago(days=2))
    write = prepare(site)
    before = master_data_version()

    write()

    assert master_data_version() != before
