"""The REST API under /api/v1/: reads with filters, and the actions that call the services."""

from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assets import services
from assets.models import ComponentEvent, Installation, Kind, Status
from pms_site.drf import exception_handler
from tests.factories import (
    AcqBoardFactory,
    BusbarFactory,
    CaseFactory,
    ComponentFactory,
    SiteFactory,
    UserFactory,
    build_site,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def engineer():
    return UserFactory(username="fiona", groups=["Field engineer"])


@pytest.fixture
def api(engineer):
    """A client authenticated with the field engineer's API token (no session)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=engineer).key}")
    return client


@pytest.fixture
def site():
    return build_site(cabinets=2, docks=4, pms_id="PMS-07-001")


def test_cases_list_shows_where_each_case_is_now_and_filters_by_site(api, site):
    build_site(cabinets=1, docks=4)
    in_stock = CaseFactory()

    response = api.get("/api/v1/cases/", {"site": site.pk})

    assert response.status_code == 200
    rows = {row["serial"]: row for row in response.json()["results"]}
    assert set(rows) == {case.serial for case in site.test_cases.values()}
    case = site.test_cases[(2, 3)]
    assert rows[case.serial]["location"] == {
        "site": site.pk,
        "pms_id": "PMS-07-001",
        "place": "PMS-07-001 C2-D3",
        "position": site.test_docks[(2, 3)].pk,
        "pms_dock": 15,
    }
    detail = api.get(f"/api/v1/cases/{in_stock.pk}/").json()
    assert detail["serial"] == in_stock.serial
    assert detail["location"] is None


def test_sites_search_q_matches_name_pms_id_or_location_and_combines_with_the_other_filters(api):
    north = SiteFactory(name="Chiang Mai North", pms_id="PMS-77-001", location="Mae Rim")
    south = SiteFactory(name="Hat Yai South", pms_id="PMS-12-004", location="Songkhla")

    def names(**query):
        response = api.get("/api/v1/sites/", query)
        assert response.status_code == 200
        return [row["name"] for row in response.json()["results"]]

    assert names(q="north") == [north.name]
    assert names(q="pms-12") == [south.name]
    assert names(q="mae rim") == [north.name]
    assert names(q="PMS-", name="hat") == [south.name]
    assert names(q="nowhere") == []
    assert names(q="") == [north.name, south.name]


def test_components_filter_by_kind_status_supplier_and_serial(api):
    wanted = ComponentFactory(kind=Kind.FET, serial="FET-77", supplier="Volt Traders", status=Status.FAULTY)
    ComponentFactory(kind=Kind.FET, serial="FET-78", supplier="Volt Traders")
    ComponentFactory(kind=Kind.CELL_BLOCK, serial="FET-79", supplier="Volt Traders", status=Status.FAULTY)

    response = api.get(
        "/api/v1/components/", {"kind": "fet", "status": "faulty", "supplier": "volt", "serial": "fet-7"}
    )

    assert [row["id"] for row in response.json()["results"]] == [wanted.pk]


def test_installations_active_at_a_time_answer_what_was_in_a_dock_across_swaps(api, engineer):
    now = timezone.now()
    site = build_site(cabinets=2, docks=4, at=now - timedelta(hours=3))
    dock = site.test_docks[(1, 2)]
    first, second, third = site.test_cases[(1, 2)], CaseFactory(), CaseFactory()
    for old, new, hours_ago in ((first, second, 2), (second, third, 1)):
        services.component_swap(
            confirm_incomplete=True,
            position=dock,
            old_component=old,
            new_component=new,
            user=engineer,
            reason="cell fault",
            old_component_status=Status.FAULTY,
            at=now - timedelta(hours=hours_ago),
        )

    def case_in_dock_at(at):
        rows = api.get("/api/v1/installations/", {"position": dock.pk, "at": at.isoformat()}).json()[
            "results"
        ]
        return [row["component_serial"] for row in rows]

    assert case_in_dock_at(now - timedelta(hours=2, minutes=30)) == [first.serial]
    assert case_in_dock_at(now - timedelta(hours=2)) == [second.serial]
    assert case_in_dock_at(now - timedelta(minutes=30)) == [third.serial]
    assert case_in_dock_at(now - timedelta(hours=4)) == []
    on_site = api.get("/api/v1/installations/", {"site": site.pk, "kind": "case"}).json()["count"]
    assert on_site == 8 + 2  # two cabinets of four docks, plus the two closed installations in the dock
    history = api.get("/api/v1/installations/", {"kind": "case", "serial": second.serial}).json()["results"]
    assert [(row["position"], row["removal_reason"]) for row in history] == [(dock.pk, "cell fault")]


def test_install_by_serial_into_a_position_records_the_token_user_in_history(api, engineer):
    busbar = BusbarFactory(dock_count=4)
    case = CaseFactory(serial="0241")
    dock = services.child_position_get(parent=busbar, kind=Kind.CASE, number=4)

    response = api.post(
        "/api/v1/installations/install/",
        {
            "serial": "0241",
            "position": dock.pk,
            "reason": "commissioning",
            "note": "torque checked",
            "confirm_incomplete": True,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    installation = Installation.objects.get(pk=response.json()["id"])
    assert (installation.component, installation.position, installation.installed_by) == (
        case,
        dock,
        engineer,
    )
    case.refresh_from_db()
    assert case.status == Status.INSTALLED
    latest = case.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (engineer, "commissioning")
    assert installation.history.latest().history_user == engineer


def test_session_authenticated_writes_record_the_session_user_in_history():
    storekeeper = UserFactory(groups=["Warehouse"])
    client = APIClient()
    client.force_login(storekeeper)
    spare = ComponentFactory(kind=Kind.CELL_BLOCK)

    response = client.post(
        f"/api/v1/components/{spare.pk}/set_status/", {"status": "faulty", "reason": "dent"}
    )

    assert response.status_code == 200
    latest = spare.history.latest()
    assert (latest.history_user, latest.status, latest.history_change_reason) == (
        storekeeper,
        Status.FAULTY,
        "dent",
    )


def test_install_by_busbar_and_dock_number(api):
    busbar = BusbarFactory(dock_count=6)
    case = CaseFactory()

    response = api.post(
        "/api/v1/installations/install/",
        {"component": case.pk, "parent": busbar.pk, "number": 6, "confirm_incomplete": True},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["position_label"] == "dock 6"


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"component": 999999, "position": "dock"}, "component", "There is no component with id 999999."),
        ({"component": "case", "position": 999999}, "position", "There is no position with id 999999."),
        ({"serial": "NOPE-1", "position": "dock"}, "serial", "There is no case with serial NOPE-1."),
        ({"position": "dock"}, "component", "Give component (an id) or serial."),
        ({"component": "case"}, "position", "Give position (an id), or parent and number."),
        ({"component": "case", "parent": "busbar", "number": 5}, "position", "Dock 5 does not exist: busbar"),
        ({"component": "cell_block", "position": "dock"}, "position", "cannot go in dock 1"),
        ({"component": "case", "position": "dock", "at": "2999-01-01T00:00:00Z"}, "at", "in the future"),
        ({"component": "case", "position": "dock", "at": "yesterday"}, "at", "Datetime has wrong format"),
    ],
)
def test_install_with_bad_input_is_a_400_naming_the_field(api, payload, field, message):
    busbar = BusbarFactory(dock_count=4, serial="BB-0400")
    objects = {
        "case": CaseFactory(),
        "cell_block": ComponentFactory(kind=Kind.CELL_BLOCK),
        "busbar": busbar,
        "dock": services.child_position_get(parent=busbar, kind=Kind.CASE, number=1),
    }
    body = {key: objects[value].pk if value in objects else value for key, value in payload.items()}

    response = api.post("/api/v1/installations/install/", body, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not Installation.objects.exists()


def test_install_into_an_occupied_dock_names_the_place(api, site):
    response = api.post(
        "/api/v1/installations/install/",
        {"component": CaseFactory().pk, "position": site.test_docks[(1, 1)].pk},
        format="json",
    )

    assert response.status_code == 400
    occupant = site.test_cases[(1, 1)].serial
    assert response.json()["position"] == [
        f"PMS-07-001 C1-D1 holds Case {occupant}; remove or swap it first."
    ]


def test_swap_closes_the_old_installation_and_opens_the_new_one(api, site):
    dock, old = site.test_docks[(2, 1)], site.test_cases[(2, 1)]
    new = CaseFactory()
    swap = {
        "position": dock.pk,
        "old_serial": old.serial,
        "new_serial": new.serial,
        "reason": "cell fault",
        "old_component_status": "faulty",
    }

    refused = api.post("/api/v1/installations/swap/", swap, format="json")
    assert refused.status_code == 400
    assert refused.json() == {
        "confirm_incomplete": [
            f"Case {new.serial} lacks 14 of 14 cell blocks, its acquisition board and its FET board. "
            "Confirm “install incomplete case” to install it as it is."
        ]
    }
    response = api.post("/api/v1/installations/swap/", {**swap, "confirm_incomplete": True}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["component"] == new.pk
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == (Status.FAULTY, Status.INSTALLED)
    assert Installation.objects.get(component=old).removal_reason == "cell fault"


def test_stale_swap_is_a_400_and_changes_nothing(api, site):
    dock = site.test_docks[(1, 1)]
    not_there = site.test_cases[(1, 2)]

    response = api.post(
        "/api/v1/installations/swap/",
        {
            "position": dock.pk,
            "old_component": not_there.pk,
            "new_component": CaseFactory().pk,
            "reason": "cell fault",
            "old_component_status": "faulty",
        },
        format="json",
    )

    assert response.status_code == 400
    assert "someone changed it meanwhile" in response.json()["old_component"][0]
    assert (
        Installation.objects.filter(position=dock, removed_at__isnull=True).get().component
        == (site.test_cases[(1, 1)])
    )


def test_swap_to_installed_status_is_refused_by_the_serializer(api, site):
    response = api.post(
        "/api/v1/installations/swap/",
        {
            "position": site.test_docks[(1, 1)].pk,
            "old_component": site.test_cases[(1, 1)].pk,
            "new_component": CaseFactory().pk,
            "reason": "x",
            "old_component_status": "installed",
        },
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"old_component_status"}


def test_remove_by_kind_and_serial_sets_the_chosen_status(api, site):
    case = site.test_cases[(1, 4)]

    response = api.post(
        "/api/v1/installations/remove/",
        {"kind": "case", "serial": case.serial, "reason": "swelling", "new_status": "in_repair"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["removal_reason"] == "swelling"
    case.refresh_from_db()
    assert case.status == Status.IN_REPAIR
    second = api.post(
        "/api/v1/installations/remove/",
        {"component": case.pk, "reason": "again", "new_status": "in_stock"},
        format="json",
    )
    assert second.status_code == 400
    assert second.json() == {"component": [f"Case {case.serial} is not installed anywhere."]}


def test_remove_by_serial_needs_the_kind(api):
    response = api.post(
        "/api/v1/installations/remove/",
        {"serial": "0241", "reason": "x", "new_status": "faulty"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"kind": ["Give the kind of the component with its serial."]}


def test_set_status_records_an_event_and_refuses_installed_components(api, engineer, site):
    spare = ComponentFactory(kind=Kind.CELL_BLOCK)

    response = api.post(f"/api/v1/components/{spare.pk}/set_status/", {"status": "retired", "reason": "EOL"})

    assert response.status_code == 200
    assert response.json()["status"] == "retired"
    event = ComponentEvent.objects.get(component=spare, type=ComponentEvent.Type.STATUS_CHANGED)
    assert (event.user, event.reason, event.to_status) == (engineer, "EOL", Status.RETIRED)

    installed = site.test_cases[(1, 1)]
    refused = api.post(f"/api/v1/components/{installed.pk}/set_status/", {"status": "faulty", "reason": "x"})
    assert refused.status_code == 400
    assert "remove it first" in refused.json()["status"][0]
    assert (
        api.post("/api/v1/components/999999/set_status/", {"status": "faulty", "reason": "x"}).status_code
        == 404
    )


def test_unknown_detail_id_is_a_json_404(api):
    response = api.get("/api/v1/components/999999/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No Component matches the given query."}


def test_an_unexpected_error_becomes_a_json_500_without_a_trace(caplog):
    response = exception_handler(RuntimeError("secret internals"), {"view": None})

    assert response.status_code == 500
    assert response.data == {"detail": "The server failed to handle this request; the error has been logged."}
    assert "secret internals" in caplog.text


def test_openapi_schema_and_docs_are_served(api):
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    assert "/api/v1/installations/swap/" in schema.content.decode()
    assert api.get("/api/docs/").status_code == 200
    assert api.get("/api/redoc/").status_code == 200


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_openapi_schema_and_docs_need_a_login(url):
    assert APIClient().get(url).status_code == 401


def test_asset_api_schema_is_valid_and_generates_without_warnings(capsys):
    GENERATOR_STATS.reset()

    schema = SchemaGenerator(urlconf="assets.api_urls").get_schema(request=None, public=True)

    validate_schema(schema)
    assert not GENERATOR_STATS, capsys.readouterr().err
    assert {"/installations/install/", "/installations/remove/"} <= set(schema["paths"])
    # Components are received by the stock API, into a stock location (tests/stock/test_api.py).
    assert "/components/receive/" not in schema["paths"]


def test_as_of_answers_what_was_in_a_dock_where_a_case_was_and_which_case_held_a_board(api, engineer):
    now = timezone.now()
    site = build_site(cabinets=2, docks=4, pms_id="PMS-08-001", at=now - timedelta(hours=3))
    dock, first, second = site.test_docks[(2, 3)], site.test_cases[(2, 3)], CaseFactory()
    board = AcqBoardFactory()
    services.component_install(
        confirm_incomplete=True,
        component=board,
        position=services.child_position_get(parent=second, kind=Kind.ACQ_BOARD),
        user=None,
        at=now - timedelta(hours=3),
    )
    swap = services.component_swap(
        confirm_incomplete=True,
        position=dock,
        old_component=first,
        new_component=second,
        user=engineer,
        reason="cell fault",
        old_component_status=Status.FAULTY,
        at=now - timedelta(hours=1),
    )

    def ask(what, **query):
        response = api.get(f"/api/v1/as-of/{what}/", query)
        assert response.status_code == 200, response.json()
        body = response.json()
        return (body["case"] or {}).get("serial"), body["installation"], (body["location"] or {}).get("place")

    earlier, later = (now - timedelta(hours=h) for h in (2, 0.5))
    assert ask("dock", pms_id="PMS-08-001", dock=15, at=earlier.isoformat())[0] == first.serial
    assert ask("dock", pms_id="PMS-08-001", dock=15, at=later.isoformat()) == (
        second.serial,
        swap.pk,
        "PMS-08-001 C2-D3",
    )
    assert ask("dock", pms_id="PMS-08-001", dock=15)[0] == second.serial  # default: now
    assert ask("dock", pms_id="PMS-08-001", dock=15, at=(now - timedelta(hours=4)).isoformat()) == (None,) * 3
    assert ask("case", serial=first.serial, at=earlier.isoformat())[2] == "PMS-08-001 C2-D3"
    assert ask("case", serial=first.serial, at=later.isoformat()) == (first.serial, None, None)
    board_answer = ask("board", serial=board.serial, at=later.isoformat())
    assert board_answer[0] == second.serial and board_answer[2] == "PMS-08-001 C2-D3"
    assert ask("board", serial=board.serial, at=earlier.isoformat())[2] is None  # second: in stock then


@pytest.mark.parametrize(
    ("what", "query", "errors"),
    [
        ("dock", {"pms_id": "NOPE", "dock": 1}, {"pms_id": ["There is no site with PMS id 'NOPE'."]}),
        (
            "dock",
            {"pms_id": "PMS-07-001", "dock": 49},
            {"dock": ["Ensure this value is less than or equal to 48."]},
        ),
        ("dock", {"dock": 1}, {"pms_id": ["This field is required."]}),
        ("case", {"serial": "NOPE"}, {"serial": ["There is no case 'NOPE'."]}),
        ("board", {"serial": "NOPE"}, {"serial": ["There is no acquisition board 'NOPE'."]}),
        ("case", {"serial": "X", "at": "yesterday"}, {"at": None}),
        ("case", {"serial": "in dock 1", "at": "0001-01-01T00:00+01:00"}, {"at": None}),
    ],
)
def test_as_of_refuses_bad_queries_naming_the_field(api, site, what, query, errors):
    if query["serial" if "serial" in query else "dock"] == "in dock 1":
        query["serial"] = site.test_cases[(1, 1)].serial
    response = api.get(f"/api/v1/as-of/{what}/", query)

    assert response.status_code == 400
    assert response.json().keys() == errors.keys()
    for field, messages in errors.items():
        assert messages is None or response.json()[field] == messages


def test_as_of_endpoints_are_in_the_openapi_schema(api):
    paths = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for what in ("dock", "case", "board"):
        parameters = {p["name"] for p in paths[f"/api/v1/as-of/{what}/"]["get"]["parameters"]}
        assert {"at"} < parameters
