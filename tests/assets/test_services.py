"""Every asset service, on its happy path and its error paths, with the messages users read."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from assets import services
from assets.models import Component, ComponentEvent, Installation, Kind, Position, Site, Status
from assets.selectors import installation_at, location_of_component
from pms_site.timefmt import format_datetime
from tests.factories import (
    BusbarFactory,
    CaseFactory,
    ComponentFactory,
    ControllerFactory,
    UserFactory,
    build_site,
    case_parts,
)

pytestmark = pytest.mark.django_db


def errors_of(call, **kwargs):
    """The {field: [messages]} of the ValidationError that ``call(**kwargs)`` raises."""
    with pytest.raises(ValidationError) as error:
        call(**kwargs)
    return error.value.message_dict


@pytest.fixture
def user():
    return UserFactory(username="somchai")


@pytest.fixture
def site():
    """PMS-01-001 with one cabinet whose busbar has 4 empty docks."""
    return build_site(pms_id="PMS-01-001", cabinets=1, docks=4, cases=False)


# --- Sites and positions -----------------------------------------------------------------------------------


def test_site_create_makes_the_site_and_its_empty_positions(user):
    site = services.site_create(
        name="Doi Saket", pms_id="PMS-01-001", user=user, time_zone="Asia/Bangkok", cabinets=2, mppts=2
    )
    assert site.history.get().history_user == user
    assert sorted(site.positions.values_list("kind", "number")) == [
        (Kind.CABINET, 1),
        (Kind.CABINET, 2),
        (Kind.MPPT, 1),
        (Kind.MPPT, 2),
    ]


def test_site_create_refuses_an_unknown_time_zone_and_five_cabinets(user):
    errors = errors_of(services.site_create, name="X", pms_id="PMS-09-001", user=user, time_zone="Mars/Base")
    assert errors["time_zone"] == ["'Mars/Base' is not a known IANA time zone, e.g. 'Asia/Bangkok'."]
    errors = errors_of(services.site_create, name="X", pms_id="PMS-09-001", user=user, cabinets=5)
    assert errors["cabinets"] == ["A PMS has 1-4 cabinets, not 5."]
    assert not Site.objects.exists()


def test_a_site_position_is_created_on_first_use_within_range():
    site = build_site(cabinets=0)
    position = services.site_position_get_or_create(site=site, kind=Kind.INVERTER, number=2)
    assert services.site_position_get_or_create(site=site, kind=Kind.INVERTER, number=2) == position
    errors = errors_of(services.site_position_get_or_create, site=site, kind=Kind.CABINET, number=5)
    assert errors["number"] == ["Cabinet 5 does not exist: a site has cabinets 1-4."]
    errors = errors_of(services.site_position_get_or_create, site=site, kind=Kind.CASE, number=1)
    assert errors["kind"] == ["A case is not installed directly on a site."]


def test_child_position_names_the_missing_dock_and_the_busbars_dock_count():
    busbar = BusbarFactory(serial="BB-0012", dock_count=12)
    assert services.child_position_get(parent=busbar, kind=Kind.CASE, number=12).number == 12
    errors = errors_of(services.child_position_get, parent=busbar, kind=Kind.CASE, number=13)
    assert errors["position"] == ["Dock 13 does not exist: busbar BB-0012 has 12 docks"]


def test_child_position_explains_kinds_that_do_not_fit_and_numbers_out_of_range():
    case = CaseFactory(serial="0241")
    errors = errors_of(services.child_position_get, parent=case, kind=Kind.FET, number=1)
    assert errors["position"] == ["A FET does not go in a case"]
    errors = errors_of(services.child_position_get, parent=case, kind=Kind.CELL_BLOCK, number=15)
    assert errors["position"] == ["Cell block 15 does not exist: Case 0241 has cell block positions 1-14"]


# --- Receiving ---------------------------------------------------------------------------------------------


def test_receive_creates_components_in_stock_with_positions_events_and_history(user):
    cases = services.components_receive(
        kind=Kind.CASE,
        serials=["0241", "0242", "0243"],
        user=user,
        model_number="LFP-48V-100Ah",
        supplier="Lanna Battery Systems",
        purchase_order="PO-77",
        received_on=date(2026, 5, 1),
    )
    assert [case.serial for case in cases] == ["0241", "0242", "0243"]
    for case in Component.objects.filter(kind=Kind.CASE):
        assert case.status == Status.IN_STOCK
        assert case.purchase_order == "PO-77"
        assert case.received_on == date(2026, 5, 1)
        slots = sorted(case.child_positions.values_list("kind", "number"))
        assert slots == sorted(
            [(Kind.CELL_BLOCK, n) for n in range(1, 15)] + [(Kind.ACQ_BOARD, 1), (Kind.FET_BOARD, 1)]
        )
        event = case.events.get()
        assert (event.type, event.user, event.to_status) == (
            ComponentEvent.Type.RECEIVED,
            user,
            Status.IN_STOCK,
        )
        record = case.history.get()
        assert (record.history_user, record.history_change_reason) == (user, "Received on PO PO-77")


def test_receive_gives_a_busbar_as_many_docks_as_its_dock_count(user):
    [busbar] = services.components_receive(kind=Kind.BUSBAR, serials=["BB-0008"], user=user, dock_count=8)
    assert list(busbar.child_positions.values_list("number", flat=True).order_by("number")) == list(
        range(1, 9)
    )
    errors = errors_of(services.components_receive, kind=Kind.BUSBAR, serials=["BB-0009"], user=user)
    assert errors["dock_count"] == ["A busbar has 4-12 docks; give its dock count."]
    errors = errors_of(services.components_receive, kind=Kind.CASE, serials=["0241"], user=user, dock_count=8)
    assert errors["dock_count"] == ["Only busbars have a dock count."]


def test_receive_a_controller_needs_its_type(user):
    errors = errors_of(services.components_receive, kind=Kind.CONTROLLER, serials=["EH-1"], user=user)
    assert errors["controller_type"] == ["A controller is an EHub or a BBC; choose one."]
    [controller] = services.components_receive(
        kind=Kind.CONTROLLER,
        serials=["EH-1"],
        user=user,
        controller_type="bbc",
        configured_ids={"EH-1": "PMS-01-001"},
    )
    assert (controller.controller_type, controller.configured_id) == ("bbc", "PMS-01-001")


def test_parse_serials_reports_bad_lines_by_number_and_keeps_the_good_ones():
    text = 'Serial\n0241\n0242,LFP-48V\n\n0241\nbad serial!\n"0243";note\n' + "x" * 65 + "\n"
    serials, errors = services.parse_serials(text=text)
    assert serials == ["0241", "0242", "0243"]
    rule = "is not a valid serial (letters, digits, '.', '_', '/', '-'; at most 64 characters)."
    assert errors == [
        "Line 5: 0241 is repeated (first on line 2).",
        f"Line 6: 'bad serial!' {rule}",
        f"Line 8: '{'x' * 65}' {rule}",
    ]


def test_receive_is_all_or_none_when_any_serial_is_bad(user):
    ComponentFactory(kind=Kind.CASE, serial="0241", status=Status.FAULTY)
    errors = errors_of(
        services.components_receive,
        kind=Kind.CASE,
        serials=["0240", "0241", "bad serial!", "0242", "0242"],
        user=user,
    )
    assert errors["serials"] == [
        "'bad serial!' is not a valid serial.",
        "0242 is listed more than once.",
        "Case 0241 already exists (faulty).",
    ]
    assert list(Component.objects.values_list("serial", flat=True)) == ["0241"]
    assert not ComponentEvent.objects.exists()


def test_receive_refuses_a_device_id_that_another_mppt_reports(user):
    ComponentFactory(kind=Kind.MPPT, serial="MPPT-1", configured_id="IT6415AD-01-001")
    errors = errors_of(
        services.components_receive,
        kind=Kind.MPPT,
        serials=["MPPT-2"],
        user=user,
        configured_ids={"MPPT-2": "IT6415AD-01-001"},
    )
    assert errors["serials"] == ["Device id IT6415AD-01-001 is already MPPT charge controller MPPT-1's."]
    assert not Component.objects.filter(serial="MPPT-2").exists()


def test_receive_reports_a_field_too_long_instead_of_failing(user):
    errors = errors_of(services.components_receive, kind=Kind.FET, serials=["F-1"], user=user, batch="b" * 65)
    assert errors["batch"] == ["Ensure this value has at most 64 characters (it has 65)."]


# --- Editing -----------------------------------------------------------------------------------------------


def test_update_edits_procurement_fields_with_history(user):
    case = CaseFactory(serial="0241")
    services.component_update(
        component=case, user=user, reason="Invoice arrived", cost="1200.50", batch="L-7"
    )
    case.refresh_from_db()
    assert (str(case.cost), case.batch) == ("1200.50", "L-7")
    latest = case.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (user, "Invoice arrived")


def test_update_refuses_fields_with_their_own_rules_and_unknown_fields(user):
    case = CaseFactory()
    errors = errors_of(
        services.component_update, component=case, user=user, status=Status.RETIRED, colour="red"
    )
    assert errors == {"colour": ["This cannot be edited here."], "status": ["This cannot be edited here."]}
    CaseFactory(serial="0241")
    errors = errors_of(services.component_update, component=case, user=user, serial="0241")
    assert errors["__all__"] == ["Component with this Kind and Serial / hardware id already exists."]


def test_update_keeps_an_installed_controller_on_its_sites_pms_id(user, site):
    controller = installation_at(position=Position.objects.get(kind=Kind.CONTROLLER)).component
    errors = errors_of(services.component_update, component=controller, user=user, configured_id="PMS-02-001")
    assert errors["component"] == [
        f"Controller {controller.serial} stores PMS-02-001, but PMS-01-001 cabinet 1 controller belongs to "
        "PMS PMS-01-001; configure the controller first."
    ]
    controller.refresh_from_db()
    assert controller.configured_id == "PMS-01-001"


# --- Installing and removing -------------------------------------------------------------------------------


def test_install_opens_an_installation_sets_the_status_and_records_the_event(user, site):
    case = CaseFactory(serial="0241")
    installation = services.component_install(
        confirm_incomplete=True,
        component=case,
        position=site.test_docks[(1, 3)],
        user=user,
        reason="Commissioning",
        note="Torque 4 Nm",
    )
    case.refresh_from_db()
    assert case.status == Status.INSTALLED
    assert (installation.installed_by, installation.reason, installation.removed_at) == (
        user,
        "Commissioning",
        None,
    )
    assert str(location_of_component(component=case)) == "PMS-01-001 C1-D3"
    event = case.events.first()
    assert (event.type, event.from_status, event.to_status, event.position) == (
        ComponentEvent.Type.INSTALLED,
        Status.IN_STOCK,
        Status.INSTALLED,
        site.test_docks[(1, 3)],
    )


def test_install_refuses_a_case_installed_elsewhere_naming_where(user, site):
    case = CaseFactory(serial="0241")
    services.component_install(
        confirm_incomplete=True, component=case, position=site.test_docks[(1, 3)], user=user
    )
    errors = errors_of(
        services.component_install, component=case, position=site.test_docks[(1, 4)], user=user
    )
    assert errors["component"] == ["Case 0241 is installed at PMS-01-001 C1-D3; remove it first."]
    assert installation_at(position=site.test_docks[(1, 4)]) is None


def test_install_refuses_an_occupied_dock(user, site):
    services.component_install(
        confirm_incomplete=True,
        component=CaseFactory(serial="0241"),
        position=site.test_docks[(1, 1)],
        user=user,
    )
    newcomer = CaseFactory(serial="0242")
    errors = errors_of(
        services.component_install, component=newcomer, position=site.test_docks[(1, 1)], user=user
    )
    assert errors["position"] == ["PMS-01-001 C1-D1 holds Case 0241; remove or swap it first."]
    newcomer.refresh_from_db()
    assert newcomer.status == Status.IN_STOCK


def test_install_refuses_a_kind_that_does_not_fit(user, site):
    cell_block = ComponentFactory(kind=Kind.CELL_BLOCK, serial="CB-1")
    errors = errors_of(
        services.component_install, component=cell_block, position=site.test_docks[(1, 1)], user=user
    )
    assert errors["position"] == ["Cell block CB-1 cannot go in dock 1: dock 1 takes a case."]


@pytest.mark.parametrize("status", [Status.FAULTY, Status.IN_REPAIR, Status.RETIRED])
def test_install_takes_only_components_in_stock(user, site, status):
    case = CaseFactory(serial="0241", status=status)
    errors = errors_of(
        services.component_install, component=case, position=site.test_docks[(1, 1)], user=user
    )
    label = Status(status).label.lower()
    assert errors["component"] == [f"Case 0241 is {label}; only components in stock can be installed."]


def test_install_refuses_a_time_in_the_future(user, site):
    errors = errors_of(
        services.component_install,
        component=CaseFactory(),
        position=site.test_docks[(1, 1)],
        user=user,
        at=timezone.now() + timedelta(hours=1),
    )
    assert errors["at"] == ["The time of a change cannot be in the future."]


def test_install_in_the_past_refuses_a_time_the_component_was_elsewhere(user, site):
    case = CaseFactory(serial="0241")
    now = timezone.now()
    services.component_install(
        confirm_incomplete=True,
        component=case,
        position=site.test_docks[(1, 1)],
        user=user,
        at=now - timedelta(days=2),
    )
    services.component_remove(component=case, user=user, reason="Moved", at=now - timedelta(days=1))
    errors = errors_of(
        services.component_install,
        component=case,
        position=site.test_docks[(1, 2)],
        user=user,
        at=now - timedelta(days=3),
    )
    until = format_datetime(now - timedelta(days=1))
    assert errors["at"] == [f"Case 0241 was installed elsewhere until {until}."]


def test_install_in_the_past_refuses_a_dock_taken_later(user):
    now = timezone.now()
    site = build_site(pms_id="PMS-01-001", cabinets=1, docks=4, cases=False, at=now - timedelta(days=10))
    dock = site.test_docks[(1, 2)]
    later, earlier = now - timedelta(days=1), now - timedelta(days=3)
    services.component_install(
        confirm_incomplete=True, component=CaseFactory(serial="0300"), position=dock, user=user, at=later
    )
    errors = errors_of(
        services.component_install, component=CaseFactory(serial="0241"), position=dock, user=user, at=earlier
    )
    assert errors["position"] == [
        f"PMS-01-001 C1-D2 holds Case 0300 from {format_datetime(later)}; "
        f"an installation there from {format_datetime(earlier)} would overlap it."
    ]


def test_a_controller_must_store_the_pms_id_of_the_site_it_goes_to(user):
    site = build_site(pms_id="PMS-01-001", cabinets=0)
    cabinet = ComponentFactory(kind=Kind.CABINET)
    services.component_install(
        confirm_incomplete=True,
        component=cabinet,
        position=services.site_position_get_or_create(site=site, kind=Kind.CABINET, number=1),
        user=user,
    )
    slot = services.child_position_get(parent=cabinet, kind=Kind.CONTROLLER)
    wrong = ControllerFactory(serial="EH-7", configured_id="PMS-02-001")
    errors = errors_of(services.component_install, component=wrong, position=slot, user=user)
    assert errors["component"] == [
        "Controller EH-7 stores PMS-02-001, but PMS-01-001 cabinet 1 controller belongs to PMS PMS-01-001; "
        "configure the controller first."
    ]
    blank = ControllerFactory(serial="EH-8", configured_id="")
    errors = errors_of(services.component_install, component=blank, position=slot, user=user)
    assert errors["component"][0].startswith("Controller EH-8 stores no PMS id, but")
    right = ControllerFactory(serial="EH-9", configured_id="PMS-01-001")
    assert (
        services.component_install(
            confirm_incomplete=True, component=right, position=slot, user=user
        ).component
        == right
    )


def test_remove_closes_the_installation_with_the_chosen_status(user, site):
    case = CaseFactory(serial="0241")
    installation = services.component_install(
        confirm_incomplete=True, component=case, position=site.test_docks[(1, 1)], user=user
    )
    engineer = UserFactory(username="nok")
    services.component_remove(
        component=case, user=engineer, reason="Swollen", new_status=Status.FAULTY, note="Photo in ticket"
    )
    installation.refresh_from_db()
    case.refresh_from_db()
    assert case.status == Status.FAULTY
    assert installation.removed_at is not None
    assert (installation.removed_by, installation.removal_reason) == (engineer, "Swollen")
    assert installation.note.splitlines()[-1] == "Photo in ticket"
    event = case.events.first()
    assert (event.type, event.from_status, event.to_status, event.user) == (
        ComponentEvent.Type.REMOVED,
        Status.INSTALLED,
        Status.FAULTY,
        engineer,
    )
    assert installation_at(position=site.test_docks[(1, 1)]) is None


def test_remove_error_paths(user, site):
    case = CaseFactory(serial="0241")
    errors = errors_of(services.component_remove, component=case, user=user, reason="x")
    assert errors["component"] == ["Case 0241 is not installed anywhere."]
    installed_at = timezone.now() - timedelta(hours=2)
    services.component_install(
        confirm_incomplete=True, component=case, position=site.test_docks[(1, 1)], user=user, at=installed_at
    )
    errors = errors_of(
        services.component_remove, component=case, user=user, reason="x", new_status=Status.INSTALLED
    )
    assert errors["new_status"] == [
        "A removed component is in stock, faulty, in repair or retired; not installed."
    ]
    errors = errors_of(
        services.component_remove, component=case, user=user, reason="x", at=installed_at - timedelta(hours=1)
    )
    assert errors["at"] == [f"The removal must be after the installation at {format_datetime(installed_at)}."]
    case.refresh_from_db()
    assert case.status == Status.INSTALLED


# --- Swapping ----------------------------------------------------------------------------------------------


@pytest.fixture
def occupied_dock(user, site):
    """Dock 1 of PMS-01-001 holding case 0241, since two hours ago."""
    dock = site.test_docks[(1, 1)]
    services.component_install(
        confirm_incomplete=True,
        component=CaseFactory(serial="0241"),
        position=dock,
        user=user,
        at=timezone.now() - timedelta(hours=2),
    )
    return dock


def test_swap_replaces_the_old_case_in_one_step(user, occupied_dock):
    old, new = Component.objects.get(serial="0241"), CaseFactory(serial="0250")
    installation = services.component_swap(
        confirm_incomplete=True,
        position=occupied_dock,
        old_component=old,
        new_component=new,
        user=user,
        reason="Cell block 7 low",
        old_component_status=Status.FAULTY,
    )
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == (Status.FAULTY, Status.INSTALLED)
    closed = Installation.objects.get(component=old)
    assert closed.removed_at == installation.installed_at
    assert closed.removal_reason == "Cell block 7 low"
    assert installation_at(position=occupied_dock).component == new
    assert [e.type for e in old.events.all()] == [ComponentEvent.Type.REMOVED, ComponentEvent.Type.INSTALLED]
    assert new.events.first().type == ComponentEvent.Type.INSTALLED


def test_swap_with_a_stale_old_case_fails_and_changes_nothing(user, occupied_dock):
    seen = Component.objects.get(serial="0241")
    services.component_swap(
        confirm_incomplete=True,
        position=occupied_dock,
        old_component=seen,
        new_component=CaseFactory(serial="0250"),
        user=user,
        reason="First engineer",
        old_component_status=Status.IN_STOCK,
    )
    late = CaseFactory(serial="0251")
    errors = errors_of(
        services.component_swap,
        position=occupied_dock,
        old_component=seen,
        new_component=late,
        user=user,
        reason="Second engineer",
        old_component_status=Status.FAULTY,
    )
    assert errors["old_component"] == [
        "PMS-01-001 C1-D1 now holds Case 0250, not Case 0241; someone changed it meanwhile. Reload and check."
    ]
    late.refresh_from_db()
    seen.refresh_from_db()
    assert (late.status, seen.status) == (Status.IN_STOCK, Status.IN_STOCK)


def test_swap_error_paths(user, site, occupied_dock):
    old = Component.objects.get(serial="0241")
    swap = {"user": user, "reason": "x", "old_component_status": Status.IN_STOCK}
    errors = errors_of(
        services.component_swap,
        position=site.test_docks[(1, 2)],
        old_component=old,
        new_component=CaseFactory(),
        **swap,
    )
    assert errors["old_component"] == ["PMS-01-001 C1-D2 is empty; install instead of swapping."]
    errors = errors_of(
        services.component_swap, position=occupied_dock, old_component=old, new_component=old, **swap
    )
    assert errors["new_component"] == ["Case 0241 is already at PMS-01-001 C1-D1."]
    faulty = CaseFactory(serial="0299", status=Status.FAULTY)
    errors = errors_of(
        services.component_swap, position=occupied_dock, old_component=old, new_component=faulty, **swap
    )
    assert errors["component"] == ["Case 0299 is faulty; only components in stock can be installed."]
    errors = errors_of(
        services.component_swap,
        position=occupied_dock,
        old_component=old,
        new_component=CaseFactory(),
        **{**swap, "old_component_status": Status.INSTALLED},
    )
    assert errors["new_status"] == [
        "A removed component is in stock, faulty, in repair or retired; not installed."
    ]
    assert installation_at(position=occupied_dock).component == old


# --- Status ------------------------------------------------------------------------------------------------


def test_set_status_records_the_change_with_reason_and_user(user):
    case = CaseFactory(serial="0241")
    services.component_set_status(component=case, status=Status.IN_REPAIR, user=user, reason="RMA 55")
    case.refresh_from_db()
    assert case.status == Status.IN_REPAIR
    event = case.events.first()
    assert (event.type, event.from_status, event.to_status, event.reason, event.user) == (
        ComponentEvent.Type.STATUS_CHANGED,
        Status.IN_STOCK,
        Status.IN_REPAIR,
        "RMA 55",
        user,
    )
    assert (case.history.latest().history_user, case.history.latest().history_change_reason) == (
        user,
        "RMA 55",
    )


def test_set_status_error_paths(user, occupied_dock):
    installed = Component.objects.get(serial="0241")
    errors = errors_of(
        services.component_set_status, component=installed, status=Status.FAULTY, user=user, reason="x"
    )
    assert errors["status"] == [
        "Case 0241 is installed at PMS-01-001 C1-D1; remove it first, choosing its new status."
    ]
    spare = CaseFactory()
    errors = errors_of(
        services.component_set_status, component=spare, status=Status.INSTALLED, user=user, reason="x"
    )
    assert errors["status"] == [
        "Installed is set by installing; choose in stock, faulty, in repair or retired."
    ]
    errors = errors_of(
        services.component_set_status, component=spare, status=Status.FAULTY, user=user, reason=""
    )
    assert errors["reason"] == ["Give a reason for the status change."]
    spare.refresh_from_db()
    assert spare.status == Status.IN_STOCK


# --- Assembling a case -------------------------------------------------------------------------------------


def test_case_assemble_fits_every_part(user):
    case = CaseFactory(serial="0241")
    parts = case_parts()
    services.case_assemble(case=case, user=user, **parts)
    for number, block in enumerate(parts["cell_blocks"], start=1):
        block.refresh_from_db()
        assert block.status == Status.INSTALLED
        assert installation_at(component=block).position == Position.objects.get(
            parent=case, kind=Kind.CELL_BLOCK, number=number
        )
    assert installation_at(component=parts["acq_board"]).position.parent == case
    fet_positions = [installation_at(component=fet).position for fet in parts["fets"]]
    assert [(p.parent_id, p.number) for p in fet_positions] == [
        (parts["fet_board"].pk, 1),
        (parts["fet_board"].pk, 2),
    ]
    assert Installation.objects.filter(installed_by=user, reason="Assembly").count() == 18


def test_case_assemble_is_all_or_none(user):
    case = CaseFactory(serial="0241")
    parts = case_parts()
    ninth = parts["cell_blocks"][8]
    ninth.status = Status.FAULTY
    ninth.save()
    errors = errors_of(services.case_assemble, case=case, user=user, **parts)
    assert errors["component"] == [
        f"Cell block {ninth.serial} is faulty; only components in stock can be installed."
    ]
    assert not Installation.objects.exists()
    assert set(Component.objects.exclude(pk=ninth.pk).values_list("status", flat=True)) == {Status.IN_STOCK}


def test_case_assemble_checks_the_parts(user):
    case = CaseFactory(serial="0241")
    parts = case_parts()
    errors = errors_of(
        services.case_assemble, case=case, user=user, **{**parts, "cell_blocks": parts["cell_blocks"][:13]}
    )
    assert errors["cell_blocks"] == ["A case takes 14 cell blocks, not 13."]
    errors = errors_of(services.case_assemble, case=case, user=user, **{**parts, "fets": parts["fets"][:1]})
    assert errors["fets"] == ["A FET board carries 2 FETs, not 1."]
    swapped = {**parts, "acq_board": parts["fet_board"], "fet_board": parts["acq_board"]}
    errors = errors_of(services.case_assemble, case=case, user=user, **swapped)
    assert errors == {
        "acq_board": [f"FET board {parts['fet_board'].serial} is not an acquisition board."],
        "fet_board": [f"Acquisition board {parts['acq_board'].serial} is not a FET board."],
    }
    assert not Installation.objects.exists()


def test_a_case_goes_into_a_dock_without_a_word_only_when_complete(user, site):
    dock = site.test_docks[(1, 2)]
    case, parts = CaseFactory(serial="FULL-1"), case_parts()
    services.case_assemble(case=case, user=user, **parts)
    services.component_remove(component=parts["fet_board"], user=user, reason="Bench test")

    errors = errors_of(services.component_install, component=case, position=dock, user=user)

    assert errors == {
        "confirm_incomplete": [
            "Case FULL-1 lacks its FET board. Confirm “install incomplete case” to install it as it is."
        ]
    }
    services.component_install(
        component=parts["fet_board"],
        position=services.child_position_get(parent=case, kind=Kind.FET_BOARD),
        user=user,
    )
    installation = services.component_install(component=case, position=dock, user=user)
    assert installation.note == ""
