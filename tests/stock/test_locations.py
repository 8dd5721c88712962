"""Stock locations: deliveries go into one, moves show on the timeline, installing takes a component out,
removing puts it into the remover's van; field engineers move only between their van and site cupboards."""

from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.urls import reverse

from assets import services as asset_services
from assets.models import Component, Kind, Status
from stock import selectors, services
from stock.models import StockLocation
from tests.factories import (
    CaseFactory,
    SupplierFactory,
    UserFactory,
    build_site,
    main_warehouse,
    placed_order,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def places(db):
    site = build_site(cabinets=1, docks=4, name="Chiang Mai North")
    engineer = UserFactory(username="eddie", is_staff=True, groups=["Field engineer"])
    warehouse = main_warehouse()
    return {
        "site": site,
        "engineer": engineer,
        "warehouse": warehouse,
        "shelf": StockLocation.objects.create(kind="shelf", name="shelf B3", warehouse=warehouse),
        "van": StockLocation.objects.create(kind="van", name="van 2", engineer=engineer),
        "other_van": StockLocation.objects.create(kind="van", name="van 3"),
        "cupboard": StockLocation.objects.create(kind="cupboard", name="spares", site=site),
    }


def test_a_delivery_goes_into_its_location_and_a_move_shows_on_the_timeline(client, places):
    wanda = UserFactory(username="wanda", is_staff=True, groups=["Warehouse"])
    order = placed_order(lines=[{"kind": Kind.CASE, "quantity": 1}], supplier=SupplierFactory())
    services.purchase_order_receive(
        line=order.lines.get(), serials_text="C-9", user=wanda, location=places["warehouse"]
    )
    case = order.lines.get().receipts.get().items.get().component
    assert selectors.location_of(component=case) == places["warehouse"]

    services.component_move(component=case, to_location=places["shelf"], user=wanda)
    services.component_move(component=case, to_location=places["van"], user=wanda, note="for Chiang Mai")

    assert selectors.location_of(component=case) == places["van"]
    assert selectors.contents_of(location=places["van"]) == [case]
    client.force_login(UserFactory(username="mgr", groups=["Manager"]))
    page = client.get(f"/cases/{case.serial}/").content.decode()
    assert "Moved from Bangkok WH / shelf B3 to van 2" in page
    assert "Moved from Bangkok WH to Bangkok WH / shelf B3" in page
    assert "Moved to Bangkok WH" in page


def test_installing_takes_a_component_out_and_removing_puts_it_in_the_engineers_van(places):
    engineer, case = places["engineer"], CaseFactory()
    services.component_move(component=case, to_location=places["cupboard"], user=engineer)
    dock = places["site"].test_docks[(1, 1)]
    installed = places["site"].test_cases[(1, 1)]

    asset_services.component_swap(
        position=dock, old_component=installed, new_component=case, user=engineer, reason="cell fault",
        old_component_status=Status.FAULTY, confirm_incomplete=True,
    )  # fmt: skip

    assert selectors.location_of(component=case) is None
    assert selectors.location_of(component=installed) == places["van"]
    assert installed.stock_moves.get().note == f"Removed from {places['site'].pms_id} C1-D1"
    with pytest.raises(ValidationError, match="is installed; remove it first"):
        services.component_move(component=case, to_location=places["van"], user=engineer)


def test_field_engineers_move_only_between_their_van_and_site_cupboards(places):
    engineer, case = places["engineer"], CaseFactory()
    services.component_move(component=case, to_location=places["warehouse"], user=None)

    with pytest.raises(ValidationError, match="not Bangkok WH"):
        services.component_move(component=case, to_location=places["van"], user=engineer)
    services.component_move(component=case, to_location=places["van"], user=None)
    with pytest.raises(ValidationError, match="not van 3"):
        services.component_move(component=case, to_location=places["other_van"], user=engineer)
    services.component_move(component=case, to_location=places["cupboard"], user=engineer)
    with pytest.raises(ValidationError, match="is already in Chiang Mai North spares cupboard"):
        services.component_move(component=case, to_location=places["cupboard"], user=engineer)

    assert selectors.location_of(component=case) == places["cupboard"]
    assert list(selectors.locations_for(user=engineer)) == [places["cupboard"], places["van"]]


def test_the_admin_move_page_moves_all_or_none(client, places):
    client.force_login(UserFactory(username="wanda", is_staff=True, groups=["Warehouse"]))
    cases = [CaseFactory(serial="C-1"), CaseFactory(serial="C-2")]
    url = "/admin/stock/stocklocation/move/"

    refused = client.post(url, {"kind": "case", "serials": "C-1\nC-404", "to_location": places["shelf"].pk})
    assert "There is no case with serial C-404." in refused.content.decode()
    response = client.post(
        url, {"kind": "case", "serials": "C-1\nC-2", "to_location": places["shelf"].pk}, follow=True
    )

    assert "Moved 2 cases to Bangkok WH / shelf B3." in [str(m) for m in response.context["messages"]]
    assert [selectors.location_of(component=c) for c in cases] == [places["shelf"]] * 2
    assert "Case C-1" in response.content.decode()


def change_url(position, action):
    return reverse("web:field-change", args=[position.pk, action])


def test_the_removal_form_asks_where_the_component_goes_defaulting_to_the_engineers_van(client, places):
    engineer, dock = places["engineer"], places["site"].test_docks[(1, 1)]
    removed = places["site"].test_cases[(1, 1)]
    client.force_login(engineer)
    form = client.get(change_url(dock, "remove")).context["form"]
    assert form["to_location"].initial == places["van"]
    assert list(form.fields["to_location"].queryset) == [places["cupboard"], places["van"]]

    data = {"old_component": removed.pk, "reason": "cell fault", "removed_status": "faulty"}
    review = client.post(change_url(dock, "remove"), {**data, "to_location": places["cupboard"].pk})
    assert review.context["step"] == "confirm"
    assert "Chiang Mai North spares cupboard" in review.content.decode()
    done = client.post(
        change_url(dock, "remove"), {**data, "to_location": places["cupboard"].pk, "step": "confirm"}
    )

    assert done.status_code == 302
    assert [(m.from_location, m.to_location) for m in removed.stock_moves.all()] == [
        (None, places["cupboard"])
    ]


@pytest.mark.parametrize("place", ["other_van", "warehouse"])
def test_the_removal_form_refuses_a_place_the_engineer_may_not_use_beside_the_field(client, places, place):
    dock, removed = places["site"].test_docks[(1, 1)], places["site"].test_cases[(1, 1)]
    client.force_login(places["engineer"])
    data = {"old_component": removed.pk, "reason": "x", "removed_status": "in_stock"}

    for step in ("review", "confirm"):
        response = client.post(
            change_url(dock, "remove"), {**data, "to_location": places[place].pk, "step": step}
        )
        assert response.context["step"] == "edit"
        assert response.context["form"].errors["to_location"] == [
            "Choose one of the places offered: your own van or a site cupboard."
        ]
    assert removed.stock_moves.count() == 0
    assert (
        selectors.location_of(component=removed) is None
        and removed.installations.filter(removed_at=None).exists()
    )


def test_the_swap_form_puts_the_old_component_where_chosen(client, places):
    dock, old = places["site"].test_docks[(1, 1)], places["site"].test_cases[(1, 1)]
    new = CaseFactory()
    client.force_login(places["engineer"])
    data = {
        "old_component": old.pk,
        "serial": new.serial,
        "reason": "swap",
        "removed_status": "in_stock",
        "to_location": places["cupboard"].pk,
        "confirm_incomplete": "on",
        "step": "confirm",
    }
    assert client.post(change_url(dock, "replace"), data).status_code == 302
    assert selectors.location_of(component=old) == places["cupboard"]


def test_a_removal_into_a_place_the_remover_may_not_use_is_refused_whole(places):
    engineer, removed = places["engineer"], places["site"].test_cases[(1, 1)]
    with (
        pytest.raises(ValidationError, match="your own van or a site cupboard, not van 3"),
        services.removals_into(location=places["other_van"]),
    ):
        asset_services.component_remove(component=removed, user=engineer, reason="x")
    removed.refresh_from_db()
    assert removed.status == Status.INSTALLED and removed.stock_moves.count() == 0


def test_a_removal_by_someone_without_a_van_leaves_the_component_unplaced(places):
    removed = places["site"].test_cases[(1, 1)]
    asset_services.component_remove(component=removed, user=UserFactory(), reason="x")
    assert selectors.location_of(component=removed) is None


SHIPMENT_URL = "/admin/assets/component/receive/"


def test_receive_shipment_puts_the_components_into_the_location_chosen(client, places):
    client.force_login(UserFactory(username="wanda", is_staff=True, groups=["Warehouse"]))
    form = client.get(f"{SHIPMENT_URL}?kind=case").context["form"]
    assert form["location"].initial == places["warehouse"]

    shipment = {"kind": "case", "serials": "C-1\nC-2", "purchase_order": "PO-8"}
    refused = client.post(SHIPMENT_URL, shipment)
    assert refused.context["form"].errors == {"location": ["This field is required."]}
    client.post(SHIPMENT_URL, {**shipment, "location": places["shelf"].pk})

    received = list(Component.objects.filter(kind=Kind.CASE, serial__in=["C-1", "C-2"]))
    assert [selectors.location_of(component=c) for c in received] == [places["shelf"]] * 2
    assert {c.stock_moves.get().note for c in received} == {"Received on PO-8"}


def test_a_shipment_is_received_into_a_location_or_not_at_all(places):
    with pytest.raises(ValidationError, match="Choose where the shipment goes"):
        services.components_receive_into(location=None, kind=Kind.CASE, serials=["C-1"], user=None)
    assert not Component.objects.filter(serial="C-1").exists()


def test_the_migration_places_only_never_installed_never_moved_components_in_the_warehouse(places):
    migration = import_module("stock.migrations.0003_place_unplaced_received_components")
    received, faulty = CaseFactory(), CaseFactory(status=Status.FAULTY)
    moved, in_repair = CaseFactory(), CaseFactory(status=Status.IN_REPAIR)
    services.component_move(component=moved, to_location=places["shelf"], user=None)
    removed = places["site"].test_cases[(1, 1)]
    asset_services.component_remove(component=removed, user=None, reason="x")

    migration.place_unplaced_received_components(django_apps, None)

    location = {c: selectors.location_of(component=c) for c in (received, faulty, moved, in_repair, removed)}
    assert location == {
        received: places["warehouse"],
        faulty: places["warehouse"],
        moved: places["shelf"],
        in_repair: None,
        removed: None,
    }
    assert received.stock_moves.get().note == migration.NOTE
