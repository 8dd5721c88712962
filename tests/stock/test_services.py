"""Procurement services: orders, lines, receipts in parts, amendments, and their errors."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from assets.models import Component, ComponentEvent, Kind, Status
from stock import selectors, services
from stock.models import PurchaseOrder, Receipt
from tests.factories import ComponentFactory, SupplierFactory, UserFactory, main_warehouse, placed_order

pytestmark = pytest.mark.django_db

CASES = {"kind": Kind.CASE, "quantity": 5, "model_number": "LFP-48", "unit_cost": Decimal("812.50"),
         "currency": "usd", "warranty_months": 24}  # fmt: skip


def messages(error):
    return [message for messages in error.value.message_dict.values() for message in messages]


def test_an_order_is_drafted_placed_received_in_two_parts_and_then_received():
    user = UserFactory(username="wanda")
    order = services.purchase_order_create(supplier=SupplierFactory(name="Volt"), reference="PO-1", user=user)
    line = services.purchase_order_line_add(order=order, user=user, **CASES)
    services.purchase_order_place(order=order, user=user)
    order.refresh_from_db()
    assert (order.status, order.ordered_on, line.number, line.currency) == (
        "placed",
        timezone.localdate(),
        1,
        "USD",
    )

    services.purchase_order_receive(
        location=main_warehouse(),
        line=line,
        serials_text="C-001\nC-002",
        user=user,
        received_on=date(2026, 1, 31),
    )
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.PARTLY_RECEIVED
    services.purchase_order_receive(
        location=main_warehouse(), line=line, serials_text="serial\nC-003\nC-004\nC-005\n", user=user
    )
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED

    first = Component.objects.get(serial="C-001")
    assert (first.kind, first.status, first.cost, first.received_on, first.warranty_end) == (
        Kind.CASE, Status.IN_STOCK, Decimal("812.50"), date(2026, 1, 31), date(2028, 1, 31),
    )  # fmt: skip
    assert (first.supplier, first.purchase_order, first.model_number) == ("Volt", "PO-1", "LFP-48")
    assert first.receipt_item.receipt.line == line
    assert first.events.get().type == ComponentEvent.Type.RECEIVED
    [counts] = selectors.order_lines(order=order)
    assert (counts.quantity, counts.received, counts.outstanding) == (5, 5, 0)
    assert [r.items.count() for r in selectors.order_receipts(order=order)] == [3, 2]
    assert order.history.first().history_user == user
    assert [h.status for h in order.history.order_by("history_id")] == [
        "draft", "placed", "partly_received", "received",
    ]  # fmt: skip


def test_warranty_end_of_a_month_end_is_the_last_day_of_the_shorter_month():
    assert services.add_months(date(2026, 8, 31), 18) == date(2028, 2, 29)
    assert services.add_months(date(2026, 1, 15), 12) == date(2027, 1, 15)


def test_over_receiving_is_refused_until_the_line_is_amended():
    order = placed_order(lines=[{**CASES, "quantity": 2}])
    line = order.lines.get()

    with pytest.raises(ValidationError) as error:
        services.purchase_order_receive(
            location=main_warehouse(), line=line, serials_text="C-1\nC-2\nC-3", user=None
        )

    assert messages(error) == [
        "Line 1 of PO-2026-001 has 2 of 2 outstanding; 3 is 1 too many. Amend the line's quantity first "
        "if the supplier sent more."
    ]
    assert not Component.objects.exists()
    services.purchase_order_line_amend(line=line, quantity=3, user=None, reason="Supplier sent a spare")
    services.purchase_order_receive(
        location=main_warehouse(), line=line, serials_text="C-1\nC-2\nC-3", user=None
    )
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED
    assert line.history.first().history_change_reason == "Amended: Supplier sent a spare"


def test_a_receipt_with_one_bad_line_receives_nothing_and_names_every_line():
    ComponentFactory(kind=Kind.CASE, serial="C-2")
    order = placed_order(lines=[CASES])
    line = order.lines.get()

    with pytest.raises(ValidationError) as error:
        services.purchase_order_receive(
            location=main_warehouse(), line=line, serials_text="C-1\nC-2\n\nbad serial!\nC-1", user=None
        )

    assert messages(error) == [
        "Line 4: 'bad serial!' is not a valid serial "
        "(letters, digits, '.', '_', '/', '-'; at most 64 characters).",
        "Line 5: C-1 is repeated (first on line 1).",
        "Line 2: Case C-2 already exists (in stock).",
    ]
    assert not Receipt.objects.exists()
    assert Component.objects.filter(kind=Kind.CASE).count() == 1


def test_lines_are_added_to_drafts_only_and_receipts_need_a_placed_order():
    order = services.purchase_order_create(supplier=SupplierFactory(), reference="PO-9", user=None)
    line = services.purchase_order_line_add(order=order, user=None, **CASES)
    with pytest.raises(ValidationError, match="components are received on a placed order"):
        services.purchase_order_receive(location=main_warehouse(), line=line, serials_text="C-1", user=None)
    services.purchase_order_place(order=order, user=None)

    with pytest.raises(ValidationError, match="Lines are added to a draft order; PO-9 is placed"):
        services.purchase_order_line_add(order=order, user=None, **CASES)
    with pytest.raises(ValidationError, match="Only a draft is placed"):
        services.purchase_order_place(order=order, user=None)


def test_an_empty_order_cannot_be_placed_and_a_received_one_cannot_be_cancelled():
    empty = services.purchase_order_create(supplier=SupplierFactory(), reference="PO-E", user=None)
    with pytest.raises(ValidationError, match="PO-E has no lines"):
        services.purchase_order_place(order=empty, user=None)
    order = placed_order(lines=[CASES])
    services.purchase_order_receive(
        location=main_warehouse(), line=order.lines.get(), serials_text="C-1", user=None
    )

    with pytest.raises(ValidationError, match="Amend its lines to what was received instead"):
        services.purchase_order_cancel(order=order, user=None, reason="late")
    services.purchase_order_cancel(order=empty, user=None, reason="duplicate")
    empty.refresh_from_db()
    assert empty.status == PurchaseOrder.Status.CANCELLED


def test_a_line_is_never_amended_below_what_was_received():
    order = placed_order(lines=[CASES])
    line = order.lines.get()
    services.purchase_order_receive(location=main_warehouse(), line=line, serials_text="C-1\nC-2", user=None)

    with pytest.raises(ValidationError) as error:
        services.purchase_order_line_amend(line=line, quantity=1, user=None, reason="short")

    assert messages(error) == ["Line 1 has 2 received; it cannot be amended to 1."]
    services.purchase_order_line_amend(line=line, quantity=2, user=None, reason="Supplier short-shipped")
    order.refresh_from_db()
    assert order.status == PurchaseOrder.Status.RECEIVED


def test_busbars_need_their_dock_count_and_future_dates_are_refused():
    order = placed_order(lines=[{"kind": Kind.BUSBAR, "quantity": 2}])
    line = order.lines.get()
    with pytest.raises(ValidationError, match="give its dock count"):
        services.purchase_order_receive(location=main_warehouse(), line=line, serials_text="B-1", user=None)
    tomorrow = timezone.localdate() + timedelta(days=1)
    with pytest.raises(ValidationError, match="cannot be in the future"):
        services.purchase_order_receive(
            location=main_warehouse(),
            line=line,
            serials_text="B-1",
            user=None,
            dock_count=8,
            received_on=tomorrow,
        )

    services.purchase_order_receive(
        location=main_warehouse(), line=line, serials_text="B-1", user=None, dock_count=8
    )

    busbar = Component.objects.get(serial="B-1")
    assert (busbar.dock_count, busbar.child_positions.count(), busbar.warranty_end) == (8, 8, None)
