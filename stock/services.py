"""Every write to procurement goes through these functions (the admin and tests call them).

Receiving creates the components through assets.services.components_receive, so a component received on a
purchase order is exactly like one received any other way, plus its ReceiptItem naming the order line.
"""

import calendar
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from assets import services as asset_services
from assets.forms import configured_ids_from
from assets.models import Component, Kind, Status
from stock import selectors
from stock.models import (
    LowStockAlert,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    ReceiptItem,
    Repair,
    Reservation,
    SpareLevel,
    StockLocation,
    StockMove,
    Supplier,
)
from stock.permissions import EDIT_LOCATIONS

OPEN_FOR_RECEIPT = [PurchaseOrder.Status.PLACED, PurchaseOrder.Status.PARTLY_RECEIVED]


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months; the 31st becomes the month's last day where it has none."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def _save(instance, *, user, reason=""):
    instance.full_clean()
    instance._history_user = user
    instance._change_reason = reason[: asset_services.HISTORY_REASON_LENGTH] or None
    instance.save()
    return instance


def _lock_order(order):
    return PurchaseOrder.objects.select_for_update().select_related("supplier").get(pk=order.pk)


def _status_label(order):
    return PurchaseOrder.Status(order.status).label.lower()


# --- Suppliers ---------------------------------------------------------------------------------------------


def supplier_save(*, supplier: Supplier, user: User | None, reason: str = "") -> Supplier:
    """Create or edit a supplier (name, contact, notes)."""
    return _save(supplier, user=user, reason=reason)


# --- Purchase orders ---------------------------------------------------------------------------------------


def purchase_order_create(
    *,
    supplier: Supplier,
    reference: str,
    user: User | None,
    ordered_on: date | None = None,
    expected_on: date | None = None,
    notes: str = "",
) -> PurchaseOrder:
    """A draft order: lines are added, then it is placed."""
    order = PurchaseOrder(
        supplier=supplier,
        reference=reference.strip(),
        ordered_on=ordered_on,
        expected_on=expected_on,
        notes=notes,
    )
    return _save(order, user=user, reason="Created")


@transaction.atomic
def purchase_order_update(
    *, order: PurchaseOrder, user: User | None, reason: str = "", **fields: object
) -> PurchaseOrder:
    """Edit the dates, notes and, while a draft, the supplier and reference."""
    editable = {"ordered_on", "expected_on", "notes"}
    if order.status == PurchaseOrder.Status.DRAFT:
        editable |= {"supplier", "reference"}
    not_editable = fields.keys() - editable
    if not_editable:
        raise ValidationError(
            {
                name: f"This cannot be changed on a {_status_label(order)} order."
                for name in sorted(not_editable)
            }
        )
    for name, value in fields.items():
        setattr(order, name, value)
    return _save(order, user=user, reason=reason)


@transaction.atomic
def purchase_order_line_add(
    *,
    order: PurchaseOrder,
    kind: str,
    quantity: int,
    user: User | None,
    model_number: str = "",
    unit_cost: Decimal | None = None,
    currency: str = "USD",
    warranty_months: int = 0,
) -> PurchaseOrderLine:
    """A line at the end of a draft order."""
    order = _lock_order(order)
    if order.status != PurchaseOrder.Status.DRAFT:
        raise ValidationError(
            {"order": f"Lines are added to a draft order; {order.reference} is {_status_label(order)}."}
        )
    if quantity is None or quantity < 1:
        raise ValidationError({"quantity": "Order at least 1."})
    number = (order.lines.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    line = PurchaseOrderLine(
        order=order,
        number=number,
        kind=kind,
        model_number=model_number,
        quantity=quantity,
        unit_cost=unit_cost,
        currency=currency.upper(),
        warranty_months=warranty_months,
    )
    return _save(line, user=user, reason=f"Line {number} added")


def _received_count(line):
    return ReceiptItem.objects.filter(receipt__line=line).count()


@transaction.atomic
def purchase_order_line_amend(
    *, line: PurchaseOrderLine, quantity: int, user: User | None, reason: str
) -> PurchaseOrderLine:
    """Change the quantity ordered on a line, never below what was received; the order's status follows."""
    order = _lock_order(line.order)
    line = PurchaseOrderLine.objects.get(pk=line.pk)
    if order.status == PurchaseOrder.Status.CANCELLED:
        raise ValidationError({"quantity": f"{order.reference} is cancelled; its lines stay as they were."})
    if not reason.strip():
        raise ValidationError(
            {"reason": "Give a reason for the amendment, e.g. the supplier's confirmation."}
        )
    received = _received_count(line)
    if quantity is None or quantity < max(received, 1):
        raise ValidationError(
            {"quantity": f"Line {line.number} has {received} received; it cannot be amended to {quantity}."}
        )
    line.quantity = quantity
    _save(line, user=user, reason=f"Amended: {reason}")
    _update_received_status(order, user=user)
    return line


@transaction.atomic
def purchase_order_place(*, order: PurchaseOrder, user: User | None) -> PurchaseOrder:
    order = _lock_order(order)
    if order.status != PurchaseOrder.Status.DRAFT:
        raise ValidationError(
            {"status": f"Only a draft is placed; {order.reference} is {_status_label(order)}."}
        )
    if not order.lines.exists():
        raise ValidationError({"lines": f"{order.reference} has no lines; add what is ordered first."})
    order.status = PurchaseOrder.Status.PLACED
    order.ordered_on = order.ordered_on or timezone.localdate()
    return _save(order, user=user, reason="Placed")


@transaction.atomic
def purchase_order_cancel(*, order: PurchaseOrder, user: User | None, reason: str) -> PurchaseOrder:
    order = _lock_order(order)
    if order.status not in (PurchaseOrder.Status.DRAFT, PurchaseOrder.Status.PLACED):
        raise ValidationError(
            {
                "status": f"{order.reference} is {_status_label(order)}: only a draft or placed order with "
                "nothing received is cancelled. Amend its lines to what was received instead."
            }
        )
    if not reason.strip():
        raise ValidationError({"reason": "Give a reason for the cancellation."})
    order.status = PurchaseOrder.Status.CANCELLED
    return _save(order, user=user, reason=f"Cancelled: {reason}")


def _update_received_status(order, *, user):
    """Placed, partly received or received, from the lines' counts."""
    if order.status not in (*OPEN_FOR_RECEIPT, PurchaseOrder.Status.RECEIVED):
        return
    lines = order.lines.annotate(received=Count("receipts__items"))
    received = [(line.received, line.quantity) for line in lines]
    if all(got >= wanted for got, wanted in received):
        status = PurchaseOrder.Status.RECEIVED
    elif any(got for got, _ in received):
        status = PurchaseOrder.Status.PARTLY_RECEIVED
    else:
        status = PurchaseOrder.Status.PLACED
    if status != order.status:
        order.status = status
        _save(order, user=user, reason=PurchaseOrder.Status(status).label)


@transaction.atomic
def purchase_order_receive(
    *,
    line: PurchaseOrderLine,
    serials_text: str,
    user: User | None,
    location: StockLocation,
    received_on: date | None = None,
    dock_count: int | None = None,
    controller_type: str = "",
    note: str = "",
) -> Receipt:
    """Receive the serials of ``serials_text`` (one per line, or CSV with the configured id second) on
    ``line`` into ``location``: all or none. Errors name the line of the text; more than is outstanding is
    refused."""
    order = _lock_order(line.order)
    line = PurchaseOrderLine.objects.select_related("order").get(pk=line.pk)
    if order.status not in OPEN_FOR_RECEIPT:
        raise ValidationError(
            {
                "line": f"{order.reference} is {_status_label(order)}; "
                "components are received on a placed order."
            }
        )
    received_on = received_on or timezone.localdate()
    if received_on > timezone.localdate():
        raise ValidationError({"received_on": "The received date cannot be in the future."})
    numbered, errors = asset_services.parse_serial_lines(text=serials_text)
    existing = dict(
        Component.objects.filter(kind=line.kind, serial__in=numbered.values()).values_list("serial", "status")
    )
    label = Kind(line.kind).label
    errors += [
        f"Line {number}: {label} {serial} already exists ({Status(existing[serial]).label.lower()})."
        for number, serial in numbered.items()
        if serial in existing
    ]
    if not numbered and not errors:
        errors.append("No serials given.")
    outstanding = line.quantity - _received_count(line)
    if len(numbered) > outstanding:
        errors.append(
            f"Line {line.number} of {order.reference} has {outstanding} of {line.quantity} outstanding; "
            f"{len(numbered)} is {len(numbered) - outstanding} too many. Amend the line's quantity first "
            "if the supplier sent more."
        )
    if errors:
        raise ValidationError({"serials_text": errors})
    serials = list(numbered.values())
    components = components_receive_into(
        location=location,
        kind=line.kind,
        serials=serials,
        user=user,
        model_number=line.model_number,
        supplier=order.supplier.name,
        purchase_order=order.reference,
        received_on=received_on,
        cost=line.unit_cost,
        warranty_end=add_months(received_on, line.warranty_months) if line.warranty_months else None,
        dock_count=dock_count,
        controller_type=controller_type,
        configured_ids=configured_ids_from(serials_text, serials),
        notes=note,
    )
    receipt = _save(Receipt(line=line, received_on=received_on, received_by=user, note=note), user=user)
    ReceiptItem.objects.bulk_create(ReceiptItem(receipt=receipt, component=c) for c in components)
    _update_received_status(order, user=user)
    return receipt


@transaction.atomic
def components_receive_into(
    *, location: StockLocation | None, user: User | None, **receive: object
) -> list[Component]:
    """Receive a shipment (``receive``: assets.services.components_receive's arguments) into ``location``:
    on a purchase order, or not ("Receive shipment" in the components' admin)."""
    if location is None:
        raise ValidationError({"location": "Choose where the shipment goes."})
    components = asset_services.components_receive(user=user, **receive)
    reference = receive.get("purchase_order")
    note = f"Received on {reference}" if reference else "Received"
    _record_moves(components, to_location=location, user=user, note=note)
    return components


# --- Stock locations ---------------------------------------------------------------------------------------


def location_save(*, location: StockLocation, user: User | None, reason: str = "") -> StockLocation:
    """Create or edit a warehouse, shelf, van or site cupboard."""
    return _save(location, user=user, reason=reason)


def _record_moves(components, *, to_location, user, note, at=None, from_location=None):
    StockMove.objects.bulk_create(
        StockMove(
            component=component,
            from_location=from_location,
            to_location=to_location,
            moved_at=at or timezone.now(),
            moved_by=user,
            note=note,
        )
        for component in components
    )


def _may_move(user, location):
    """A warehouse user moves anything anywhere; a field engineer between their van and site cupboards."""
    if user is None or user.has_perm(EDIT_LOCATIONS):
        return True
    if location.kind == StockLocation.Kind.CUPBOARD:
        return True
    return location.kind == StockLocation.Kind.VAN and location.engineer_id == user.pk


@transaction.atomic
def component_move(
    *, component: Component, to_location: StockLocation, user: User | None, note: str = ""
) -> StockMove:
    """Move a component that is not installed to ``to_location``; its timeline shows where from and to."""
    component = Component.objects.select_for_update().get(pk=component.pk)
    name = f"{Kind(component.kind).label} {component.serial}"
    if component.status == Status.INSTALLED:
        raise ValidationError({"component": f"{name} is installed; remove it first, then move it."})
    current = selectors.location_of(component=component)
    if current == to_location:
        raise ValidationError({"to_location": f"{name} is already in {to_location}."})
    for place in (current, to_location):
        if place is not None and not _may_move(user, place):
            raise ValidationError(
                {"to_location": f"You move stock between your own van and site cupboards, not {place}."}
            )
    move = StockMove(
        component=component,
        from_location=current,
        to_location=to_location,
        moved_at=timezone.now(),
        moved_by=user,
        note=note,
    )
    move.full_clean()
    move.save()
    return move


def components_place(
    *, components: list[Component], location: StockLocation, user: User | None, note: str = ""
) -> None:
    """Put components new to stock (received, imported) into ``location``."""
    _record_moves(components, to_location=location, user=user, note=note)


@transaction.atomic
def components_move(
    *, components: list[Component], to_location: StockLocation, user: User | None, note: str = ""
) -> list[StockMove]:
    """Move each of ``components`` to ``to_location``: all or none."""
    return [component_move(component=c, to_location=to_location, user=user, note=note) for c in components]


# Where the components removed inside removals_into's block go; None: the remover's van.
_removal_destination: ContextVar[StockLocation | None] = ContextVar("removal_destination", default=None)


@contextmanager
def removals_into(*, location: StockLocation | None) -> Iterator[None]:
    """Components removed or swapped out inside the block go into ``location`` (the field forms ask; assets,
    below stock, cannot name a location) instead of the remover's van; None keeps that default."""
    token = _removal_destination.set(location)
    try:
        yield
    finally:
        _removal_destination.reset(token)


def component_put_away_after_removal(*, component: Component, user: User | None, at, place: str) -> None:
    """A component just removed goes where removals_into says, else into the remover's van when they drive
    one; else it waits unplaced. Refused (and the removal with it) when the remover may not use the place."""
    location = _removal_destination.get() or selectors.van_of(user=user)
    if location is None:
        return
    if not _may_move(user, location):
        raise ValidationError(
            {"to_location": f"You put what you remove into your own van or a site cupboard, not {location}."}
        )
    _record_moves([component], to_location=location, user=user, note=f"Removed from {place}", at=at)


# --- Reservations ------------------------------------------------------------------------------------------


def component_reserve_check(*, component: Component, reason: str) -> None:
    """Raise why component_reserve would refuse; write nothing."""
    name = f"{Kind(component.kind).label} {component.serial}"
    if component.status != Status.IN_STOCK:
        raise ValidationError(
            {"component": f"{name} is {Status(component.status).label.lower()}; only stock is reserved."}
        )
    reservation = component.reservations.filter(released_at=None).first()
    if reservation is not None:
        raise ValidationError({"component": f"{name} is already reserved for {reservation.reason}."})
    if not reason.strip():
        raise ValidationError({"reason": "Say what it is reserved for."})


@transaction.atomic
def component_reserve(*, component: Component, user: User | None, reason: str) -> Reservation:
    """Set a component in stock aside for a job: still in stock, no longer available (spare levels)."""
    component = Component.objects.select_for_update().get(pk=component.pk)
    component_reserve_check(component=component, reason=reason)
    return Reservation.objects.create(
        component=component, reason=reason.strip(), reserved_at=timezone.now(), reserved_by=user
    )


def reservations_release(*, component: Component, user: User | None) -> int:
    """End ``component``'s open reservation, if any (released, or installed); returns how many ended."""
    return Reservation.objects.filter(component=component, released_at=None).update(
        released_at=timezone.now(), released_by=user
    )


# --- Spare levels ------------------------------------------------------------------------------------------


def spare_level_save(*, level: SpareLevel, user: User | None, reason: str = "") -> SpareLevel:
    return _save(level, user=user, reason=reason)


@transaction.atomic
def spare_levels_check() -> tuple[int, int]:
    """Raise a low-stock alert for each spare level below its minimum that has none open; clear the open
    alerts of levels back at their minimum. Returns (raised, cleared)."""
    now = timezone.now()
    open_alerts = {
        alert.level_id: alert for alert in LowStockAlert.objects.select_for_update().filter(cleared_at=None)
    }
    raised = cleared = 0
    for counts in selectors.spare_level_counts():
        alert = open_alerts.get(counts.level.pk)
        if counts.short and alert is None:
            LowStockAlert.objects.create(
                level=counts.level, raised_at=now, in_stock=counts.in_stock, reserved=counts.reserved
            )
            raised += 1
        elif not counts.short and alert is not None:
            alert.cleared_at = now
            alert.save(update_fields=["cleared_at"])
            cleared += 1
    return raised, cleared


# --- Repairs and returns -----------------------------------------------------------------------------------


def warranty_text(*, component: Component, on: date) -> str:
    """'Under warranty until 2028-01-31', 'Out of warranty since ...', or 'No warranty recorded'."""
    if component.warranty_end is None:
        return "No warranty recorded"
    if on <= component.warranty_end:
        return f"Under warranty until {component.warranty_end:%Y-%m-%d}"
    return f"Out of warranty since {component.warranty_end:%Y-%m-%d}"


@transaction.atomic
def repair_send(
    *,
    component: Component,
    supplier: Supplier,
    user: User | None,
    rma_number: str = "",
    sent_on: date | None = None,
    note: str = "",
) -> Repair:
    """Send a faulty component to ``supplier`` for repair or RMA: it goes to 'in repair'."""
    sent_on = sent_on or timezone.localdate()
    if sent_on > timezone.localdate():
        raise ValidationError({"sent_on": "The date sent cannot be in the future."})
    component = Component.objects.select_for_update().get(pk=component.pk)
    if component.status != Status.FAULTY:
        raise ValidationError(
            {
                "component": f"{Kind(component.kind).label} {component.serial} is "
                f"{Status(component.status).label.lower()}; only a faulty component is sent for repair."
            }
        )
    warranty = warranty_text(component=component, on=sent_on)
    rma = f", RMA {rma_number}" if rma_number else ""
    asset_services.component_set_status(
        component=component,
        status=Status.IN_REPAIR,
        user=user,
        reason=f"Sent for repair to {supplier}{rma}"[: asset_services.REASON_LENGTH],
        note=warranty,
    )
    repair = Repair(
        component=component,
        supplier=supplier,
        rma_number=rma_number,
        sent_on=sent_on,
        under_warranty=warranty.startswith("Under"),
        note=note,
    )
    return _save(repair, user=user, reason="Sent")


@transaction.atomic
def repair_return(
    *,
    repair: Repair,
    outcome: str,
    user: User | None,
    returned_on: date | None = None,
    location: StockLocation | None = None,
    replacement_serial: str = "",
    note: str = "",
) -> Repair:
    """Close a repair: the component is back in stock (repaired), retired and replaced by a new serial
    linked to it, or retired (scrapped). What comes back into stock goes into ``location``."""
    repair = Repair.objects.select_for_update().select_related("component", "supplier").get(pk=repair.pk)
    returned_on = returned_on or timezone.localdate()
    if repair.returned_on is not None:
        raise ValidationError({"outcome": f"This repair was closed on {repair.returned_on:%Y-%m-%d}."})
    if returned_on < repair.sent_on or returned_on > timezone.localdate():
        raise ValidationError(
            {
                "returned_on": f"The return date lies between the date sent ({repair.sent_on:%Y-%m-%d}) "
                "and today."
            }
        )
    if outcome not in Repair.Outcome.values:
        raise ValidationError({"outcome": "Choose repaired, replaced or scrapped."})
    back_in_stock = outcome != Repair.Outcome.SCRAPPED
    if back_in_stock and location is None:
        raise ValidationError({"location": "Choose where the component goes."})
    if outcome == Repair.Outcome.REPLACED and not replacement_serial.strip():
        raise ValidationError({"replacement_serial": "Give the serial of the replacement the supplier sent."})
    if outcome != Repair.Outcome.REPLACED and replacement_serial.strip():
        raise ValidationError({"replacement_serial": "Only a replaced component has a replacement."})
    component = repair.component
    days = (returned_on - repair.sent_on).days
    away = f"{days} day{'' if days == 1 else 's'} away at {repair.supplier}"
    status = Status.IN_STOCK if outcome == Repair.Outcome.REPAIRED else Status.RETIRED
    asset_services.component_set_status(
        component=component,
        status=status,
        user=user,
        reason=f"Back from repair: {Repair.Outcome(outcome).label.lower()}",
        note=away,
    )
    if outcome == Repair.Outcome.REPAIRED:
        _record_moves([component], to_location=location, user=user, note="Back from repair")
    if outcome == Repair.Outcome.REPLACED:
        [replacement] = asset_services.components_receive(
            kind=component.kind,
            serials=[replacement_serial.strip()],
            user=user,
            model_number=component.model_number,
            manufacturer=component.manufacturer,
            supplier=repair.supplier.name,
            received_on=returned_on,
            warranty_end=component.warranty_end,
            notes=f"Replaces {component.serial}"
            + (f" (RMA {repair.rma_number})" if repair.rma_number else ""),
        )
        _record_moves([replacement], to_location=location, user=user, note=f"Replaces {component.serial}")
        repair.replacement = replacement
    repair.outcome, repair.returned_on = outcome, returned_on
    repair.note = f"{repair.note}\n{note}".strip()
    return _save(repair, user=user, reason=Repair.Outcome(outcome).label)
