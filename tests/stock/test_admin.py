"""Procurement in the admin, by role: the warehouse drafts, places and receives; the others only read."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile

from assets.models import Component, Kind
from stock import services
from stock.models import PurchaseOrder, Reservation
from tests.factories import CaseFactory, SupplierFactory, UserFactory, main_warehouse, placed_order

pytestmark = pytest.mark.django_db

ORDERS = "/admin/stock/purchaseorder/"


def log_in(client, group):
    client.force_login(UserFactory(username=group.lower().replace(" ", "_"), is_staff=True, groups=[group]))
    return client


def test_warehouse_drafts_places_and_receives_an_order_in_two_parts(client):
    log_in(client, "Warehouse")
    client.post("/admin/stock/supplier/add/", {"name": "Volt Traders", "contact": "ann@volt.example"})
    supplier = SupplierFactory(name="Volt Traders")
    assert supplier.history.get().history_user.username == "warehouse"

    response = client.post(f"{ORDERS}add/", {"supplier": supplier.pk, "reference": "PO-77", "notes": ""})
    order = PurchaseOrder.objects.get(reference="PO-77")
    assert response.status_code == 302 and order.status == PurchaseOrder.Status.DRAFT
    line = {"kind": "case", "model_number": "LFP-48", "quantity": "3", "unit_cost": "800", "currency": "USD",
            "warranty_months": "12"}  # fmt: skip
    response = client.post(f"{ORDERS}{order.pk}/add-line/", line, follow=True)
    assert "Line 1 added." in [str(m) for m in response.context["messages"]]
    client.post(f"{ORDERS}{order.pk}/place/", {})
    line = order.lines.get()

    receive = f"{ORDERS}lines/{line.pk}/receive/"
    form = client.get(receive).content.decode()
    assert "ordered 3, received 0, outstanding 3" in form
    assert "dock_count" not in form and "controller_type" not in form
    wh = main_warehouse().pk
    response = client.post(
        receive, {"serials_text": "C-1", "received_on": "2026-03-01", "location": wh}, follow=True
    )
    assert "Received 1 case on line 1." in [str(m) for m in response.context["messages"]]
    refused = client.post(receive, {"serials_text": "C-2\nC-2\nC-3\nC-4", "location": wh})
    assert "Line 2: C-2 is repeated (first on line 1)." in refused.content.decode()
    assert "has 2 of 3 outstanding; 3 is 1 too many" in refused.content.decode()
    client.post(receive, {"serials_text": "C-2\nC-3", "location": wh})

    page = client.get(f"{ORDERS}{order.pk}/change/").content.decode()
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED
    assert "<td>3</td><td>3</td><td>0</td>" in page
    assert "2026-03-01</strong>, line 1:\n      1 received by warehouse" in page
    assert Component.objects.filter(kind=Kind.CASE).count() == 3


def test_a_receipt_can_be_uploaded_as_a_csv_file(client):
    log_in(client, "Warehouse")
    order = placed_order(lines=[{"kind": Kind.CONTROLLER, "quantity": 2}])
    upload = SimpleUploadedFile(
        "serials.csv", b"serial,pms id\nCTL-1,PMS-01-001\nCTL-2,PMS-02-001\n", content_type="text/csv"
    )

    client.post(
        f"{ORDERS}lines/{order.lines.get().pk}/receive/",
        {"serials_file": upload, "controller_type": "ehub", "location": main_warehouse().pk},
    )

    controllers = Component.objects.filter(kind=Kind.CONTROLLER).order_by("serial")
    assert [(c.serial, c.configured_id, c.controller_type) for c in controllers] == [
        ("CTL-1", "PMS-01-001", "ehub"),
        ("CTL-2", "PMS-02-001", "ehub"),
    ]


@pytest.mark.parametrize("group", ["Field engineer", "Manager"])
def test_field_engineers_and_managers_see_orders_but_cannot_edit_or_receive(client, group):
    log_in(client, group)
    order = placed_order(lines=[{"kind": Kind.CASE, "quantity": 2}])
    line = order.lines.get()

    page = client.get(f"{ORDERS}{order.pk}/change/")

    assert page.status_code == 200
    content = page.content.decode()
    assert "<td>2</td><td>0</td><td>2</td>" in content
    assert "Receive</a>" not in content and "Amend</a>" not in content
    assert client.get(f"{ORDERS}add/").status_code == 403
    assert client.post(f"{ORDERS}lines/{line.pk}/receive/", {"serials_text": "C-1"}).status_code == 403
    assert client.post(f"{ORDERS}lines/{line.pk}/amend/", {"quantity": 5, "reason": "x"}).status_code == 403
    assert client.post(f"{ORDERS}{order.pk}/cancel/", {"reason": "x"}).status_code == 403
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.PLACED and not Component.objects.exists()


# --- The components' "reserve" action ----------------------------------------------------------------------

COMPONENTS = "/admin/assets/component/"


def test_the_reserve_action_asks_what_for_then_reserves_the_stock_and_names_the_rest(client):
    log_in(client, "Warehouse")
    spare, other_spare = CaseFactory(serial="C-1"), CaseFactory(serial="C-2")
    faulty = CaseFactory(serial="C-3", status="faulty")
    taken = CaseFactory(serial="C-4")
    services.component_reserve(component=taken, user=None, reason="PMS-01-001")
    selected = [c.pk for c in (spare, other_spare, faulty, taken)]
    selection = {"action": "reserve", ACTION_CHECKBOX_NAME: selected}

    ask = client.post(COMPONENTS, selection)
    assert ask.status_code == 200
    page = ask.content.decode()
    assert all(serial in page for serial in ("C-1", "C-2", "C-3", "C-4"))
    assert 'name="action" value="reserve"' in page
    assert not Reservation.objects.filter(component__in=[spare, other_spare]).exists()

    blank = client.post(COMPONENTS, {**selection, "apply": "1", "reason": " "})
    assert blank.status_code == 200 and list(blank.context["form"].errors) == ["reason"]

    done = client.post(COMPONENTS, {**selection, "apply": "1", "reason": "swap at PMS-02-001"}, follow=True)

    shown = [str(message) for message in done.context["messages"]]
    assert "Reserved 2 components for swap at PMS-02-001." in shown
    assert "Case C-3 is faulty; only stock is reserved." in shown
    assert "Case C-4 is already reserved for PMS-01-001." in shown
    open_reservations = Reservation.objects.filter(released_at=None)
    by_warehouse = open_reservations.filter(reserved_by__username="warehouse")
    assert {(r.component.serial, r.reason) for r in by_warehouse} == {
        ("C-1", "swap at PMS-02-001"),
        ("C-2", "swap at PMS-02-001"),
    }
    assert open_reservations.get(component=taken).reason == "PMS-01-001"
    assert not faulty.reservations.exists()


@pytest.mark.parametrize("group", ["Field engineer", "Manager"])
def test_the_reserve_action_is_the_warehouses(client, group):
    log_in(client, group)
    spare = CaseFactory()

    changelist = client.get(COMPONENTS)
    response = client.post(
        COMPONENTS, {"action": "reserve", ACTION_CHECKBOX_NAME: [spare.pk], "apply": "1", "reason": "a job"}
    )

    action_form = changelist.context["action_form"]  # None: no action offered at all
    assert action_form is None or "reserve" not in dict(action_form.fields["action"].choices)
    assert response.status_code in (200, 302)  # the changelist again: "No action selected"
    assert not spare.reservations.exists()
