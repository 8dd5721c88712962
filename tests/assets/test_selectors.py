""" "As of T" questions across several swaps, each answered by one indexed query."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets import services
from assets.models import Case, Component, Installation, Kind, Position, Status
from assets.selectors import (
    case_holding_board_at,
    case_in_pms_dock_at,
    component_in_position_at,
    components_on_site,
    installation_at,
    installations_of,
    installed_case_counts,
    location_of_component,
    location_of_position,
    site_installed_at,
    sites_installed_at,
)
from tests.factories import CaseFactory, ComponentFactory, build_site, case_parts

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 7, 0, tzinfo=UTC)  # commissioning
T1 = T0 + timedelta(days=10)  # dock 7: 0241 swapped out for 0242
T2 = T0 + timedelta(days=20)  # 0241 back in service in cabinet 2 dock 1 (PMS dock 13)
T3 = T0 + timedelta(days=30)  # dock 7: 0242 swapped out for 0243
T4 = T0 + timedelta(days=40)  # board A1234 taken out of 0241
T5 = T0 + timedelta(days=41)  # board A1234 fitted to 0243
SECOND = timedelta(seconds=1)


def swap(dock, old, new, at):
    services.component_swap(
        confirm_incomplete=True,
        position=dock,
        old_component=old,
        new_component=new,
        user=None,
        reason="Swap",
        old_component_status=Status.IN_STOCK,
        at=at,
    )


@pytest.fixture
def history():
    """PMS-01-001 with 2 cabinets of 12 docks, and the moves of cases 0241-0243 and board A1234."""
    site = build_site(pms_id="PMS-01-001", cabinets=2, docks=12, cases=False, at=T0 - timedelta(days=1))
    case = {serial: CaseFactory(serial=serial) for serial in ("0241", "0242", "0243", "0300")}
    parts = case_parts()
    board = parts["acq_board"]
    board.serial = "A1234"
    board.save()
    services.case_assemble(case=case["0241"], user=None, at=T0 - timedelta(hours=1), **parts)
    dock7, pms_dock_19, pms_dock_13 = (
        site.test_docks[(1, 7)],
        site.test_docks[(2, 7)],
        site.test_docks[(2, 1)],
    )
    services.component_install(
        confirm_incomplete=True, component=case["0241"], position=dock7, user=None, at=T0
    )
    services.component_install(
        confirm_incomplete=True, component=case["0300"], position=pms_dock_19, user=None, at=T0
    )
    swap(dock7, case["0241"], case["0242"], T1)
    services.component_install(
        confirm_incomplete=True, component=case["0241"], position=pms_dock_13, user=None, at=T2
    )
    swap(dock7, case["0242"], case["0243"], T3)
    services.component_remove(component=board, user=None, reason="Board swap", at=T4)
    services.component_install(
        confirm_incomplete=True,
        component=board,
        position=services.child_position_get(parent=case["0243"], kind=Kind.ACQ_BOARD),
        user=None,
        at=T5,
    )
    return site, case, board


def test_what_was_in_a_pms_dock_at_a_time(history):
    expected = {
        (7, T0 - SECOND): None,
        (7, T0): "0241",
        (7, T1 - SECOND): "0241",
        (7, T1): "0242",
        (7, T3 - SECOND): "0242",
        (7, T3 + timedelta(days=90)): "0243",
        (19, T1): "0300",  # cabinet 2 dock 7
        (13, T2 - SECOND): None,
        (13, T2): "0241",  # cabinet 2 dock 1
        (8, T1): None,
    }
    found = {}
    for pms_dock, at in expected:
        installation = case_in_pms_dock_at(pms_id="PMS-01-001", pms_dock=pms_dock, at=at)
        found[(pms_dock, at)] = installation.component.serial if installation else None
    assert found == expected


def test_a_dock_of_another_pms_is_not_confused_with_ours(history):
    other = build_site(pms_id="PMS-02-001", cabinets=1, docks=8, at=T0)
    assert case_in_pms_dock_at(pms_id="PMS-02-001", pms_dock=7, at=T1).component == other.test_cases[(1, 7)]
    assert case_in_pms_dock_at(pms_id="PMS-01-001", pms_dock=7, at=T1).component.serial == "0242"
    assert case_in_pms_dock_at(pms_id="PMS-09-001", pms_dock=7, at=T1) is None


def test_where_has_case_0241_been(history):
    _, case, _ = history
    visits = [
        (str(location_of_position(position=i.position, at=i.installed_at)), i.installed_at, i.removed_at)
        for i in installations_of(component=case["0241"])
    ]
    assert visits == [("PMS-01-001 C1-D7", T0, T1), ("PMS-01-001 C2-D1", T2, None)]


def test_location_of_a_case_and_its_pms_dock_at_a_time(history):
    _, case, _ = history
    assert location_of_component(component=case["0241"], at=T0 - timedelta(days=2)) is None
    then = location_of_component(component=case["0241"], at=T1 - SECOND)
    assert (str(then), then.pms_dock) == ("PMS-01-001 C1-D7", 7)
    now = location_of_component(component=case["0241"])
    assert (str(now), now.pms_dock) == ("PMS-01-001 C2-D1", 13)
    assert location_of_component(component=case["0242"]) is None


def test_what_a_position_held_at_a_time(history):
    site, case, _ = history
    assert component_in_position_at(position=site.test_docks[(1, 7)], at=T1 + SECOND) == case["0242"]
    assert component_in_position_at(position=site.test_docks[(1, 7)]) == case["0243"]
    assert installation_at(component=case["0242"], at=T3) is None


def test_which_case_held_acquisition_board_a1234_at_a_time(history):
    _, _, board = history
    expected = {T0 - timedelta(days=1): None, T0: "0241", T4 - SECOND: "0241", T4: None, T5: "0243"}
    by_serial = {at: case_holding_board_at(board="A1234", at=at) for at in expected}
    assert {at: case.serial if case else None for at, case in by_serial.items()} == expected
    assert {at: case_holding_board_at(board=board, at=at) for at in expected} == by_serial
    assert isinstance(by_serial[T5], Case)


def test_board_lookup_ignores_unknown_ids_and_other_kinds_with_the_same_serial(history):
    assert case_holding_board_at(board="A9999", at=T5) is None
    # A cell block that happens to carry the board's serial is not a board.
    ComponentFactory(kind=Kind.CELL_BLOCK, serial="A1234")
    assert case_holding_board_at(board="A1234", at=T5).serial == "0243"


# --- What a site held at a time --------------------------------------------------------------------------


def cases_by_dock(installed):
    return {
        (dock.cabinet_number, dock.position.number, dock.pms_dock): dock.case.serial
        for dock in installed.cases
    }


def test_what_a_site_held_at_a_time(history):
    site, _, _ = history
    assert site_installed_at(site=site, at=T0 - SECOND).cases == ()
    at_t1 = site_installed_at(site=site, at=T1)
    assert [cabinet.number for cabinet in at_t1.cabinets] == [1, 2]
    assert all(cabinet.busbar is not None and len(cabinet.docks) == 12 for cabinet in at_t1.cabinets)
    assert [dock.position.number for dock in at_t1.cabinets[1].docks] == list(range(1, 13))
    assert cases_by_dock(at_t1) == {(1, 7, 7): "0242", (2, 7, 19): "0300"}
    assert cases_by_dock(site_installed_at(site=site, at=T2)) == {
        (1, 7, 7): "0242",
        (2, 1, 13): "0241",
        (2, 7, 19): "0300",
    }
    assert at_t1.cabinets[0].docks[0].case is None  # an empty dock is listed, empty


def test_what_a_site_holds_as_recorded_now_takes_the_open_installations(history):
    site, _, _ = history
    assert cases_by_dock(site_installed_at(site=site, at=None)) == {
        (1, 7, 7): "0243",
        (2, 1, 13): "0241",
        (2, 7, 19): "0300",
    }


def test_a_cabinet_taken_off_the_site_takes_its_docks_with_it(history):
    site, _, _ = history
    cabinet = site_installed_at(site=site, at=T1).cabinets[1].cabinet
    services.component_remove(component=cabinet, user=None, reason="Moved", at=T2 + SECOND)
    assert cases_by_dock(site_installed_at(site=site, at=T2 + SECOND)) == {(1, 7, 7): "0242"}
    assert [c.number for c in site_installed_at(site=site, at=T2).cabinets] == [1, 2]


def test_cases_installed_per_site_now_are_those_on_the_site_at_any_depth(history):
    """installed_case_counts walks cabinet, busbar and dock (the only place a case goes) in fixed joins: the
    same count as the recursive walk of everything on the site, before and after the cabinet leaves."""
    site, _, _ = history
    empty = build_site(cabinets=1, docks=4, cases=False)

    def on_site():
        return components_on_site(site=site).filter(kind=Kind.CASE).count()

    assert installed_case_counts(site_ids=[site.pk, empty.pk]) == {site.pk: 3} and on_site() == 3
    cabinet = site_installed_at(site=site, at=None).cabinets[1].cabinet
    services.component_remove(component=cabinet, user=None, reason="Moved", at=T5 + SECOND)
    assert installed_case_counts(site_ids=[site.pk]) == {site.pk: 1} and on_site() == 1


def test_devices_on_a_site_in_position_order_and_several_sites_in_two_queries(history):
    site, _, _ = history
    mppts = [ComponentFactory(kind=Kind.MPPT, configured_id=f"MPPT-{n}") for n in (1, 2)]
    inverter = ComponentFactory(kind=Kind.INVERTER, configured_id="INV-1")
    for number, device in [(3, mppts[0]), (1, mppts[1])]:
        services.component_install(
            confirm_incomplete=True,
            component=device,
            position=services.site_position_get_or_create(site=site, kind=Kind.MPPT, number=number),
            user=None,
        )
    services.component_install(
        confirm_incomplete=True,
        component=inverter,
        position=services.site_position_get_or_create(site=site, kind=Kind.INVERTER, number=1),
        user=None,
    )
    others = [build_site(cabinets=2, docks=4) for _ in range(3)]
    with CaptureQueriesContext(connection) as queries:
        installed = sites_installed_at(site_ids=[site.pk, *(other.pk for other in others)], at=None)
    assert len(queries) == 2
    assert installed[site.pk].mppts == (mppts[1], mppts[0]) and installed[site.pk].inverters == (inverter,)
    assert [len(installed[other.pk].cases) for other in others] == [8, 8, 8]
    assert installed[others[0].pk].mppts == ()


# --- Indexes -----------------------------------------------------------------------------------------------


@pytest.fixture
def many_installations():
    """A few thousand installations of cell blocks, with statistics, so that the planner has a choice."""
    cases = CaseFactory.create_batch(40)
    blocks = Component.objects.bulk_create(
        Component(kind=Kind.CELL_BLOCK, serial=f"CB-{n:05d}") for n in range(40 * 14 * 3)
    )
    slots = Position.objects.filter(parent__in=cases, kind=Kind.CELL_BLOCK).order_by("pk")
    installations = []
    for index, slot in enumerate(slots):
        for generation in range(3):
            block = blocks[index * 3 + generation]
            start = T0 + timedelta(days=10 * generation)
            end = start + timedelta(days=10) if generation < 2 else None
            installations.append(
                Installation(
                    component=block,
                    component_kind=Kind.CELL_BLOCK,
                    position=slot,
                    position_kind=Kind.CELL_BLOCK,
                    installed_at=start,
                    removed_at=end,
                )
            )
    Installation.objects.bulk_create(installations)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE assets_installation, assets_position, assets_component")
    return slots, blocks


def plans_of(run):
    """The EXPLAIN output of each query ``run`` makes."""
    with CaptureQueriesContext(connection) as queries:
        run()
    plans = []
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            cursor.execute("EXPLAIN " + query["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


def assert_installations_found_by_index(plan, column):
    assert "Seq Scan on assets_installation" not in plan, plan
    assert re.search(rf"Index Cond: .*\b{column}\b", plan), plan


def test_as_of_queries_use_the_installation_indexes(many_installations, history):
    slots, blocks = many_installations
    some_time = T0 + timedelta(days=15)
    [plan] = plans_of(lambda: installation_at(position=slots[100], at=some_time))
    assert_installations_found_by_index(plan, "position_id")
    [plan] = plans_of(lambda: installation_at(component=blocks[500], at=some_time))
    assert_installations_found_by_index(plan, "component_id")
    [plan] = plans_of(lambda: list(installations_of(component=blocks[500])))
    assert_installations_found_by_index(plan, "component_id")
    [plan] = plans_of(lambda: case_holding_board_at(board="A1234", at=T5))
    assert_installations_found_by_index(plan, "component_id")
    assert "component_serial_unique_per_kind" in plan, plan
    [plan] = plans_of(lambda: case_in_pms_dock_at(pms_id="PMS-01-001", pms_dock=7, at=T1))
    assert_installations_found_by_index(plan, "position_id")


def test_what_a_site_held_is_found_through_the_installation_indexes(many_installations, history):
    site, _, _ = history
    positions, occupants = plans_of(lambda: site_installed_at(site=site, at=T1))
    assert "Seq Scan on assets_installation" not in positions, positions
    assert_installations_found_by_index(occupants, "position_id")
