"""The database itself refuses what must never be wrong, even for writes that bypass the services."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from assets.models import Component, Installation, Kind, Position
from tests.factories import BusbarFactory, CaseFactory, ComponentFactory, SiteFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 3, 7, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def raw_installation(component, position, installed_at=T0, removed_at=None, **kinds):
    """An Installation written straight to the table: no service, no checks in Python."""
    return Installation.objects.create(
        component=component,
        component_kind=kinds.get("component_kind", component.kind),
        position=position,
        position_kind=kinds.get("position_kind", position.kind),
        installed_at=installed_at,
        removed_at=removed_at,
    )


def dock(busbar, number=1):
    return Position.objects.get(parent=busbar, kind=Kind.CASE, number=number)


def assert_refused(constraint, create, *args, **kwargs):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        create(*args, **kwargs)


def test_one_component_cannot_have_two_open_installations():
    case = CaseFactory()
    busbar = BusbarFactory()
    raw_installation(case, dock(busbar, 1))
    assert_refused("installation_component_no_overlap", raw_installation, case, dock(busbar, 2), T0 + HOUR)


def test_one_position_cannot_hold_two_open_installations():
    busbar = BusbarFactory()
    raw_installation(CaseFactory(), dock(busbar))
    assert_refused(
        "installation_position_no_overlap", raw_installation, CaseFactory(), dock(busbar), T0 + HOUR
    )


def test_closed_installations_in_one_position_cannot_overlap_but_may_follow_each_other():
    busbar = BusbarFactory()
    raw_installation(CaseFactory(), dock(busbar), T0, T0 + 2 * HOUR)
    assert_refused(
        "installation_position_no_overlap",
        raw_installation,
        CaseFactory(),
        dock(busbar),
        T0 + HOUR,
        T0 + 3 * HOUR,
    )
    follower = raw_installation(CaseFactory(), dock(busbar), T0 + 2 * HOUR, T0 + 3 * HOUR)
    assert Installation.objects.filter(position=dock(busbar)).count() == 2
    assert follower.installed_at == T0 + 2 * HOUR


def test_closed_installations_of_one_component_cannot_overlap():
    case = CaseFactory()
    busbar = BusbarFactory()
    raw_installation(case, dock(busbar, 1), T0, T0 + 2 * HOUR)
    assert_refused(
        "installation_component_no_overlap", raw_installation, case, dock(busbar, 2), T0 + HOUR, T0 + 3 * HOUR
    )


def test_a_cell_block_cannot_be_installed_in_a_dock():
    cell_block = ComponentFactory(kind=Kind.CELL_BLOCK)
    a_dock = dock(BusbarFactory())
    # Honest kinds: the check that both kinds are equal refuses it.
    assert_refused("installation_kind_fits_position", raw_installation, cell_block, a_dock)
    # Lying about the position's kind: the composite foreign key to position (id, kind) refuses it.
    assert_refused(
        "installation_position_kind_fk", raw_installation, cell_block, a_dock, position_kind=Kind.CELL_BLOCK
    )
    # Lying about the component's kind: the composite foreign key to component (id, kind) refuses it.
    assert_refused(
        "installation_component_kind_fk", raw_installation, cell_block, a_dock, component_kind=Kind.CASE
    )


def test_a_dock_cannot_be_a_position_of_a_case():
    case = CaseFactory()
    assert_refused(
        "position_kind_fits_parent_and_range",
        Position.objects.create,
        parent=case,
        parent_kind=Kind.CASE,
        kind=Kind.CASE,
        number=1,
    )
    assert_refused(
        "position_parent_kind_fk",
        Position.objects.create,
        parent=case,
        parent_kind=Kind.BUSBAR,
        kind=Kind.CASE,
        number=1,
    )


def test_a_dock_number_cannot_exceed_its_busbars_dock_count():
    busbar = BusbarFactory(serial="BB-0008", dock_count=8)
    assert_refused(
        "Dock 9 does not exist: busbar BB-0008 has 8 docks",
        Position.objects.create,
        parent=busbar,
        parent_kind=Kind.BUSBAR,
        kind=Kind.CASE,
        number=9,
    )
    # Renumbering an existing dock is checked too.
    eighth = dock(busbar, 8)
    eighth.number = 10
    assert_refused("Dock 10 does not exist", eighth.save)


def test_a_busbars_dock_count_cannot_drop_below_its_docks():
    busbar = BusbarFactory(dock_count=12)
    busbar.dock_count = 8
    assert_refused("busbar_keeps_its_docks", busbar.save)
    busbar.refresh_from_db()
    assert busbar.dock_count == 12


@pytest.mark.parametrize(
    ("kind", "number", "where"),
    [
        (Kind.CABINET, 5, "site"),
        (Kind.CABINET, 0, "site"),
        (Kind.CELL_BLOCK, 15, Kind.CASE),
        (Kind.FET, 3, Kind.FET_BOARD),
        (Kind.CONTROLLER, 2, Kind.CABINET),
    ],
)
def test_positions_out_of_range_are_refused(kind, number, where):
    if where == "site":
        place = {"site": SiteFactory()}
    else:
        place = {"parent": ComponentFactory(kind=where), "parent_kind": where}
    assert_refused(
        "position_kind_fits_parent_and_range", Position.objects.create, kind=kind, number=number, **place
    )


def test_positions_within_range_are_accepted():
    site = SiteFactory()
    case = CaseFactory()
    assert Position.objects.create(site=site, kind=Kind.CABINET, number=4).pk
    assert Position.objects.get(parent=case, kind=Kind.CELL_BLOCK, number=14).pk


@pytest.mark.parametrize("removed_after", [timedelta(0), -HOUR])
def test_an_installation_must_end_after_it_starts(removed_after):
    case = CaseFactory()
    assert_refused(
        "installation_removed_after_installed",
        raw_installation,
        case,
        dock(BusbarFactory()),
        T0,
        T0 + removed_after,
    )


def test_a_serial_is_unique_per_kind_but_may_repeat_across_kinds():
    ComponentFactory(kind=Kind.CELL_BLOCK, serial="X-100")
    assert_refused(
        "component_serial_unique_per_kind", Component.objects.create, kind=Kind.CELL_BLOCK, serial="X-100"
    )
    fet = Component.objects.create(kind=Kind.FET, serial="X-100")
    assert Component.objects.filter(serial="X-100").count() == 2
    assert fet.kind == Kind.FET


@pytest.mark.parametrize("dock_count", [3, 13, None])
def test_a_busbar_has_4_to_12_docks(dock_count):
    assert_refused(
        "component_dock_count_busbars_only",
        Component.objects.create,
        kind=Kind.BUSBAR,
        serial="BB-9999",
        dock_count=dock_count,
    )


def test_only_busbars_have_a_dock_count():
    assert_refused(
        "component_dock_count_busbars_only",
        Component.objects.create,
        kind=Kind.CASE,
        serial="0999",
        dock_count=8,
    )


def test_two_mppts_cannot_report_the_same_device_id():
    ComponentFactory(kind=Kind.MPPT, configured_id="IT6415AD-01-001")
    assert_refused(
        "device_id_unique_per_kind",
        Component.objects.create,
        kind=Kind.MPPT,
        serial="MPPT-2",
        configured_id="IT6415AD-01-001",
    )


def test_a_component_cannot_change_kind_once_it_has_positions_or_installations():
    busbar = BusbarFactory()
    busbar.kind, busbar.dock_count = Kind.CASE, None
    assert_refused("position_parent_kind_fk", busbar.save)
    cell_block = ComponentFactory(kind=Kind.CELL_BLOCK)
    raw_installation(cell_block, Position.objects.get(parent=CaseFactory(), kind=Kind.CELL_BLOCK, number=1))
    cell_block.kind = Kind.FET
    assert_refused("installation_component_kind_fk", cell_block.save)
