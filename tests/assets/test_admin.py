"""The Django admin for warehouse staff: every write goes through the services."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from assets import services
from assets.models import Component, ComponentEvent, Installation, Kind, Position, Site, Status
from tests.factories import (
    BusbarFactory,
    CaseFactory,
    ComponentFactory,
    UserFactory,
    build_site,
    main_warehouse,
)

pytestmark = pytest.mark.django_db

RECEIVE_URL = "/admin/assets/component/receive/"
SHIPMENT = {
    "kind": "acq_board",
    "model_number": "ACQ-2",
    "manufacturer": "Board House",
    "supplier": "Volt Traders",
    "purchase_order": "PO-4711",
    "received_on": "2026-11-02",
    "cost": "18.40",
    "warranty_end": "2028-11-02",
    "batch": "LOT-9",
    "dock_count": "",
    "controller_type": "",
    "notes": "",
}


@pytest.fixture
def warehouse(client):
    user = UserFactory(username="wanda", is_staff=True, groups=["Warehouse"])
    client.force_login(user)
    return user


def test_receive_shipment_creates_components_in_stock_with_history(client, warehouse):
    serials = 'serial,case id\nA5001,0241\n"A5002",0242\n\nA5003\n'

    ComponentFactory(kind=Kind.CELL_BLOCK)

    response = client.post(
        RECEIVE_URL, {**SHIPMENT, "location": main_warehouse().pk, "serials": serials}, follow=True
    )

    assert response.redirect_chain[0][1] == 302
    assert [c.serial for c in response.context["cl"].result_list] == ["A5001", "A5002", "A5003"]
    assert "Received 3 acquisition boards into Bangkok WH." in [str(m) for m in response.context["messages"]]
    boards = Component.objects.filter(kind=Kind.ACQ_BOARD).order_by("serial")
    assert [(b.serial, b.configured_id, b.status) for b in boards] == [
        ("A5001", "0241", Status.IN_STOCK),
        ("A5002", "0242", Status.IN_STOCK),
        ("A5003", "", Status.IN_STOCK),
    ]
    board = boards[0]
    assert (board.supplier, board.purchase_order, str(board.cost), str(board.warranty_end)) == (
        "Volt Traders",
        "PO-4711",
        "18.40",
        "2028-11-02",
    )
    assert board.history.get().history_user == warehouse
    assert ComponentEvent.objects.get(component=board).type == ComponentEvent.Type.RECEIVED


def test_receive_shipment_reports_bad_lines_creates_nothing_and_keeps_the_input(client, warehouse):
    serials = "A6001\nbad serial!\nA6002\nA6001\n"

    response = client.post(RECEIVE_URL, {**SHIPMENT, "location": main_warehouse().pk, "serials": serials})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Line 2: &#x27;bad serial!&#x27; is not a valid serial" in page
    assert "Line 4: A6001 is repeated (first on line 1)." in page
    assert 'value="PO-4711"' in page
    assert "A6002" in page
    assert not Component.objects.exists()


def test_receive_shipment_of_a_known_serial_creates_none_of_them(client, warehouse):
    ComponentFactory(kind=Kind.ACQ_BOARD, serial="A7002")

    response = client.post(
        RECEIVE_URL, {**SHIPMENT, "location": main_warehouse().pk, "serials": "A7001\nA7002\n"}
    )

    assert response.status_code == 200
    assert "Acquisition board A7002 already exists (in stock)." in response.content.decode()
    assert list(Component.objects.values_list("serial", flat=True)) == ["A7002"]


def test_receive_busbars_needs_their_dock_count(client, warehouse):
    response = client.post(
        RECEIVE_URL, {**SHIPMENT, "location": main_warehouse().pk, "kind": "busbar", "serials": "BB-1\n"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "dock_count": ["A busbar has 4-12 docks; give its dock count."]
    }
    assert not Component.objects.exists()

    client.post(
        RECEIVE_URL,
        {
            **SHIPMENT,
            "location": main_warehouse().pk,
            "kind": "busbar",
            "dock_count": "8",
            "serials": "BB-1\n",
        },
    )
    busbar = Component.objects.get(serial="BB-1")
    assert Position.objects.filter(parent=busbar, kind=Kind.CASE).count() == 8


def _assembled_case():
    case = CaseFactory(serial="0241")
    services.case_assemble(
        case=case,
        user=None,
        cell_blocks=[ComponentFactory(kind=Kind.CELL_BLOCK, serial=f"CB-{n:02d}") for n in range(1, 15)],
        acq_board=ComponentFactory(kind=Kind.ACQ_BOARD, serial="A1234"),
        fet_board=ComponentFactory(kind=Kind.FET_BOARD, serial="FB-1"),
        fets=[ComponentFactory(kind=Kind.FET, serial=f"FET-{n}") for n in (1, 2)],
    )
    return case


def test_case_page_shows_the_case_as_a_tree_with_its_history(client, warehouse):
    site = build_site(cabinets=1, docks=4, cases=False, pms_id="PMS-03-001")
    case = _assembled_case()
    services.component_install(
        confirm_incomplete=True,
        component=case,
        position=site.test_docks[(1, 2)],
        user=warehouse,
        reason="new",
    )

    response = client.get(f"/admin/assets/case/{case.pk}/change/")

    assert response.status_code == 200
    tree = response.context["tree"]
    assert [(slot.position.label, slot.component.serial) for slot in tree][:2] == [
        ("cell block 1", "CB-01"),
        ("cell block 2", "CB-02"),
    ]
    assert [(slot.position.label, slot.component.serial) for slot in tree][14:] == [
        ("acquisition board", "A1234"),
        ("fet board", "FB-1"),
    ]
    assert [(s.position.label, s.component.serial) for s in tree[15].children] == [
        ("FET 1", "FET-1"),
        ("FET 2", "FET-2"),
    ]
    page = response.content.decode()
    assert "Installed at PMS-03-001 C1-D2." in page
    assert "Cell block 14" in page and "CB-14" in page
    assert "installation history" in page.lower()
    assert page.count("<h2>Contents</h2>") == 1


def test_assemble_a_case_from_pasted_serials(client, warehouse):
    case = CaseFactory(serial="0300")
    for n in range(1, 15):
        ComponentFactory(kind=Kind.CELL_BLOCK, serial=f"CB-3{n:02d}")
    ComponentFactory(kind=Kind.ACQ_BOARD, serial="A3000")
    ComponentFactory(kind=Kind.FET_BOARD, serial="FB-300")
    cell_blocks = "\n".join(f"CB-3{n:02d}" for n in range(1, 15))

    response = client.post(
        "/admin/assets/case/assemble/",
        {"case": "0300", "cell_blocks": cell_blocks, "acq_board": "A3000", "fet_board": "FB-300", "fets": ""},
    )

    assert response.status_code == 302
    installed = Installation.objects.filter(position__parent=case).select_related("component", "position")
    assert {(i.position.label, i.component.serial) for i in installed} >= {
        ("cell block 1", "CB-301"),
        ("cell block 14", "CB-314"),
        ("acquisition board", "A3000"),
    }
    assert installed.get(position__kind=Kind.CELL_BLOCK, position__number=1).installed_by == warehouse


def test_assemble_reports_each_problem_and_installs_nothing(client, warehouse):
    CaseFactory(serial="0301")
    for n in range(1, 14):
        ComponentFactory(kind=Kind.CELL_BLOCK, serial=f"CB-4{n:02d}")
    installed_board = ComponentFactory(kind=Kind.ACQ_BOARD, serial="A4000")
    services.case_assemble(
        case=CaseFactory(),
        user=None,
        cell_blocks=[ComponentFactory(kind=Kind.CELL_BLOCK) for _ in range(14)],
        acq_board=installed_board,
        fet_board=ComponentFactory(kind=Kind.FET_BOARD),
    )
    before = Installation.objects.count()
    cell_blocks = "\n".join(f"CB-4{n:02d}" for n in range(1, 14)) + "\nCB-999"

    attempt = {"case": "0301", "cell_blocks": cell_blocks, "acq_board": "A4000", "fet_board": "FB-NONE"}

    response = client.post("/admin/assets/case/assemble/", attempt)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["cell_blocks"] == ["Position 14: There is no cell block with serial CB-999."]
    assert errors["fet_board"] == ["There is no FET board with serial FB-NONE."]
    assert Installation.objects.count() == before

    ComponentFactory(kind=Kind.CELL_BLOCK, serial="CB-999")
    ComponentFactory(kind=Kind.FET_BOARD, serial="FB-NONE")
    response = client.post("/admin/assets/case/assemble/", attempt)
    assert response.status_code == 200
    assert "Acquisition board A4000 is installed at" in response.content.decode()
    assert Installation.objects.count() == before


def test_status_action_sets_status_with_reason_and_reports_installed_ones(client, warehouse):
    spare = ComponentFactory(kind=Kind.CELL_BLOCK, serial="CB-SPARE")
    site = build_site(cabinets=1, docks=4)
    installed = site.test_cases[(1, 1)]
    selection = {"action": "set_status", ACTION_CHECKBOX_NAME: [spare.pk, installed.pk]}

    confirm = client.post("/admin/assets/component/", selection)
    assert confirm.status_code == 200
    assert "CB-SPARE" in confirm.content.decode()
    spare.refresh_from_db()
    assert spare.status == Status.IN_STOCK

    done = client.post(
        "/admin/assets/component/",
        {**selection, "apply": "1", "status": "faulty", "reason": "dropped"},
        follow=True,
    )

    spare.refresh_from_db()
    installed.refresh_from_db()
    assert (spare.status, installed.status) == (Status.FAULTY, Status.INSTALLED)
    event = ComponentEvent.objects.get(component=spare, type=ComponentEvent.Type.STATUS_CHANGED)
    assert (event.user, event.reason) == (warehouse, "dropped")
    shown = [str(message) for message in done.context["messages"]]
    assert "Status set on 1 component." in shown
    assert any(f"Case {installed.serial} is installed at" in message for message in shown)


def test_status_action_needs_a_reason(client, warehouse):
    spare = ComponentFactory(kind=Kind.CELL_BLOCK)

    response = client.post(
        "/admin/assets/component/",
        {
            "action": "set_status",
            ACTION_CHECKBOX_NAME: [spare.pk],
            "apply": "1",
            "status": "faulty",
            "reason": "",
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    spare.refresh_from_db()
    assert spare.status == Status.IN_STOCK


def _offered_actions(client):
    action_form = client.get("/admin/assets/component/").context["action_form"]
    return [name for name, _ in action_form.fields["action"].choices] if action_form else []


def test_status_action_is_offered_to_warehouse_but_not_to_managers(client, warehouse):
    assert "set_status" in _offered_actions(client)

    client.force_login(UserFactory(is_staff=True, groups=["Manager"]))
    spare = ComponentFactory(kind=Kind.CELL_BLOCK)
    response = client.post(
        "/admin/assets/component/",
        {
            "action": "set_status",
            ACTION_CHECKBOX_NAME: [spare.pk],
            "apply": "1",
            "status": "faulty",
            "reason": "x",
        },
    )

    assert "set_status" not in _offered_actions(client)
    assert response.status_code == 200
    spare.refresh_from_db()
    assert spare.status == Status.IN_STOCK


def test_editing_a_component_goes_through_the_service_and_history_names_user_and_reason(client, warehouse):
    board = ComponentFactory(kind=Kind.ACQ_BOARD, serial="A8000")
    url = f"/admin/assets/component/{board.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}

    response = client.post(
        url,
        {
            **data,
            "configured_id": "0555",
            "change_reason": "re-flashed with case id",
            "installations-TOTAL_FORMS": "0",
            "installations-INITIAL_FORMS": "0",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    board.refresh_from_db()
    assert board.configured_id == "0555"
    latest = board.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (warehouse, "re-flashed with case id")
    history_page = client.get(f"/admin/assets/component/{board.pk}/history/")
    assert history_page.status_code == 200
    assert "wanda" in history_page.content.decode()


def test_nothing_can_be_deleted_and_history_records_are_read_only(client):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    case = CaseFactory()
    site = build_site(cabinets=1, docks=4)
    installation = Installation.objects.filter(position__site=site).first()

    assert client.get(f"/admin/assets/component/{case.pk}/delete/").status_code == 403
    assert client.get(f"/admin/assets/site/{site.pk}/delete/").status_code == 403
    assert client.get(f"/admin/assets/installation/{installation.pk}/delete/").status_code == 403
    assert client.get("/admin/assets/installation/add/").status_code == 403
    assert client.get("/admin/assets/componentevent/add/").status_code == 403
    change_page = client.get(f"/admin/assets/installation/{installation.pk}/change/")
    assert change_page.status_code == 200
    assert 'name="_save"' not in change_page.content.decode()


def test_component_list_filters_by_the_site_it_is_on_now(client, warehouse):
    site = build_site(cabinets=1, docks=4)
    build_site(cabinets=1, docks=4)
    CaseFactory()

    response = client.get("/admin/assets/case/", {"site": site.pk})

    assert response.status_code == 200
    shown = {case.serial for case in response.context["cl"].result_list}
    assert shown == {case.serial for case in site.test_cases.values()}
    assert client.get("/admin/assets/component/", {"site": "nonsense"}).status_code == 200


def test_component_search_by_model_number_and_supplier(client, warehouse):
    ComponentFactory(kind=Kind.FET, serial="F-1", model_number="IRF-9", supplier="Volt Traders")
    ComponentFactory(kind=Kind.FET, serial="F-2", model_number="IRF-7", supplier="Other")

    by_model = client.get("/admin/assets/component/", {"q": "IRF-9"}).context["cl"].result_list
    by_supplier = client.get("/admin/assets/component/", {"supplier": "Other"}).context["cl"].result_list

    assert [c.serial for c in by_model] == ["F-1"]
    assert [c.serial for c in by_supplier] == ["F-2"]


def test_site_created_in_the_admin_gets_its_positions(client, warehouse):
    response = client.post(
        "/admin/assets/site/add/",
        {
            "name": "Doi Saket",
            "pms_id": "PMS-09-001",
            "location": "Chiang Mai",
            "time_zone": "Asia/Bangkok",
            "notes": "",
            "cabinets": "3",
            "mppts": "2",
            "inverters": "1",
            "positions-TOTAL_FORMS": "0",
            "positions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    site = Site.objects.get(pms_id="PMS-09-001")
    assert sorted(site.positions.values_list("kind", "number")) == [
        ("cabinet", 1),
        ("cabinet", 2),
        ("cabinet", 3),
        ("inverter", 1),
        ("mppt", 1),
        ("mppt", 2),
    ]
    assert site.history.get().history_user == warehouse


def test_site_with_too_many_cabinets_is_refused_on_the_form(client, warehouse):
    response = client.post(
        "/admin/assets/site/add/",
        {"name": "X", "pms_id": "PMS-X", "time_zone": "UTC", "cabinets": "5", "mppts": "0", "inverters": "0"},
    )

    assert response.status_code == 200
    assert "cabinets" in response.context["adminform"].form.errors
    assert not Site.objects.exists()


def test_case_pages_show_only_cases(client, warehouse):
    busbar = BusbarFactory()
    case = CaseFactory()

    listed = client.get("/admin/assets/case/").context["cl"].result_list

    assert list(listed) == [case]
    assert client.get(f"/admin/assets/component/{busbar.pk}/change/").status_code == 200
    assert client.get(f"/admin/assets/case/{busbar.pk}/change/").status_code == 302


def test_installation_list_names_each_dock_as_the_pages_do(client, warehouse):
    site = build_site(cabinets=2, docks=4, pms_id="PMS-05-001")
    page = client.get("/admin/assets/installation/", {"component_kind": "case"}).content.decode()
    assert "PMS-05-001 C2-D4" in page and "PMS-05-001 C1-D1" in page
    assert len(site.test_cases) == page.count("PMS-05-001 C")


def test_receiving_starts_with_the_kind_and_then_shows_only_its_fields(client, warehouse):
    choose = client.get(RECEIVE_URL).content.decode()
    assert '<a href="?kind=case">Case</a>' in choose
    assert '<a href="?kind=busbar">Busbar</a>' in choose

    case_form = client.get(f"{RECEIVE_URL}?kind=case")
    busbar_form = client.get(f"{RECEIVE_URL}?kind=busbar")
    controller_form = client.get(f"{RECEIVE_URL}?kind=controller")

    assert "Receive a shipment of cases" in case_form.content.decode()
    assert "dock_count" not in case_form.context["form"].fields
    assert "controller_type" not in case_form.context["form"].fields
    assert "dock_count" in busbar_form.context["form"].fields
    assert "controller_type" in controller_form.context["form"].fields
    page = case_form.content.decode()
    assert 'type="date" name="received_on"' in page
    # The picker shows the user's own date format: no hint that contradicts it.
    assert "Default: today." in page and "YYYY-MM-DD" not in page


@pytest.mark.parametrize(
    ("serials", "message"),
    [
        ("C-1\n", "Received 1 case into Bangkok WH."),
        ("C-1\nC-2\nC-3\nC-4\nC-5\n", "Received 5 cases into Bangkok WH."),
    ],
)
def test_receiving_says_how_many_of_what_in_words(client, warehouse, serials, message):
    shipment = {**SHIPMENT, "location": main_warehouse().pk, "kind": "case", "serials": serials}
    del shipment["dock_count"], shipment["controller_type"]

    response = client.post(RECEIVE_URL, shipment, follow=True)

    assert [str(m) for m in response.context["messages"]] == [message]


def test_the_change_pages_of_a_case_and_a_site_link_to_their_pages(client, warehouse):
    site = build_site(cabinets=1, docks=4)
    case = site.test_cases[(1, 1)]

    case_page = client.get(f"/admin/assets/case/{case.pk}/change/").content.decode()
    site_page = client.get(f"/admin/assets/site/{site.pk}/change/").content.decode()

    assert f'href="/cases/{case.serial}/" class="viewsitelink">View on site</a>' in case_page
    assert f'href="/sites/{site.pk}/" class="viewsitelink">View on site</a>' in site_page
