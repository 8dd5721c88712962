"""The stock API: receiving a shipment into a stock location, the one way the API receives components."""

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from assets.models import Component, ComponentEvent, Kind, Status
from stock import selectors
from stock.models import StockLocation, StockMove
from tests.factories import ComponentFactory, UserFactory, build_site, main_warehouse

pytestmark = pytest.mark.django_db

RECEIVE_URL = "/api/v1/stock/receive/"


@pytest.fixture
def warehouse_user():
    return UserFactory(username="wanda", groups=["Warehouse"])


@pytest.fixture
def api(warehouse_user):
    client = APIClient()
    client.force_authenticate(warehouse_user)
    return client


@pytest.fixture
def shelf():
    return StockLocation.objects.create(kind="shelf", name="shelf B3", warehouse=main_warehouse())


def test_receive_puts_every_component_into_the_location_with_a_move_on_its_timeline(
    api, warehouse_user, shelf, client
):
    response = api.post(
        RECEIVE_URL,
        {
            "kind": "acq_board",
            "serials": ["A9001", "A9002"],
            "configured_ids": {"A9001": "0241"},
            "supplier": "Board House",
            "purchase_order": "PO-77",
            "cost": "12.50",
            "location": shelf.pk,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    answer = response.json()
    assert answer["location"] == {"id": shelf.pk, "kind": "shelf", "name": "shelf B3", "label": str(shelf)}
    assert [c["serial"] for c in answer["components"]] == ["A9001", "A9002"]
    boards = Component.objects.filter(kind=Kind.ACQ_BOARD).order_by("serial")
    assert [(b.serial, b.configured_id, b.status, b.supplier) for b in boards] == [
        ("A9001", "0241", Status.IN_STOCK, "Board House"),
        ("A9002", "", Status.IN_STOCK, "Board House"),
    ]
    for board in boards:
        assert selectors.location_of(component=board) == shelf
        move = board.stock_moves.get()
        assert (move.from_location, move.to_location, move.moved_by, move.note) == (
            None,
            shelf,
            warehouse_user,
            "Received on PO-77",
        )
        assert ComponentEvent.objects.filter(component=board).count() == 1


def test_a_received_case_shows_its_location_on_its_timeline(api, shelf, client):
    response = api.post(
        RECEIVE_URL, {"kind": "case", "serials": ["C-77"], "location": shelf.pk}, format="json"
    )

    assert response.status_code == 201, response.json()
    client.force_login(UserFactory(username="mgr", groups=["Manager"]))
    page = client.get("/cases/C-77/").content.decode()
    assert "Moved to Bangkok WH / shelf B3" in page


def test_receive_without_a_location_names_the_field_and_creates_nothing(api):
    response = api.post(RECEIVE_URL, {"kind": "case", "serials": ["C-1"]}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["location"]
    assert not Component.objects.filter(serial="C-1").exists()


@pytest.mark.parametrize("location", [999999, "cupboard", "not an id"])
def test_receive_into_an_unknown_location_names_the_field_and_creates_nothing(api, location):
    if location == "cupboard":  # a delivery never goes straight into a site's spares cupboard
        site = build_site(cabinets=1, docks=4)
        location = StockLocation.objects.create(kind="cupboard", name="spares", site=site).pk

    response = api.post(
        RECEIVE_URL, {"kind": "case", "serials": ["C-1"], "location": location}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["location"]
    assert not Component.objects.filter(serial="C-1").exists()
    assert not StockMove.objects.exists()


def test_receive_names_the_bad_serials_and_creates_none_of_the_shipment(api, shelf):
    ComponentFactory(kind=Kind.BUSBAR, serial="BB-1")

    response = api.post(
        RECEIVE_URL,
        {
            "kind": "busbar",
            "serials": ["BB-2", "BB-1", "bad serial!"],
            "dock_count": 12,
            "location": shelf.pk,
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "serials": ["'bad serial!' is not a valid serial.", "Busbar BB-1 already exists (in stock)."]
    }
    assert not Component.objects.filter(serial="BB-2").exists()
    assert not StockMove.objects.exists()


def test_receive_a_busbar_without_dock_count_names_the_field(api, shelf):
    response = api.post(
        RECEIVE_URL, {"kind": "busbar", "serials": ["BB-9"], "location": shelf.pk}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["dock_count"]
    assert not Component.objects.filter(serial="BB-9").exists()


@pytest.mark.parametrize("group", ["Field engineer", "Manager", None])
def test_only_who_may_receive_components_receives(group, shelf):
    client = APIClient()
    client.force_authenticate(UserFactory(groups=[group] if group else []))

    response = client.post(
        RECEIVE_URL, {"kind": "case", "serials": ["C-1"], "location": shelf.pk}, format="json"
    )

    assert response.status_code == 403
    assert response.json() == {"detail": "You need the permission assets.add_component."}
    assert not Component.objects.filter(serial="C-1").exists()


def test_the_components_api_no_longer_receives(api, shelf):
    response = api.post(
        "/api/v1/components/receive/",
        {"kind": "case", "serials": ["C-1"], "location": shelf.pk},
        format="json",
    )

    assert response.status_code == 405
    assert not Component.objects.filter(serial="C-1").exists()


def test_stock_api_schema_is_valid_and_generates_without_warnings(capsys):
    GENERATOR_STATS.reset()

    schema = SchemaGenerator(urlconf="stock.api_urls").get_schema(request=None, public=True)

    validate_schema(schema)
    assert not GENERATOR_STATS, capsys.readouterr().err
    operation = schema["paths"]["/stock/receive/"]["post"]
    assert set(operation["responses"]) >= {"201", "400", "401", "403"}
    request = schema["components"]["schemas"]["ShipmentInput"]
    assert "location" in request["required"]
