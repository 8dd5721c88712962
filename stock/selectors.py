"""Reads for the procurement admin and the warehouse home."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from assets.models import Case, Component, ComponentEvent, Installation, Kind, Position, Status
from stock.models import (
    LowStockAlert,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    Repair,
    Reservation,
    SpareLevel,
    StockLocation,
    StockMove,
)

# The statuses the warehouse counts: what it holds, and what is away or waiting to go.
WAREHOUSE_STATUSES = [Status.IN_STOCK, Status.FAULTY, Status.IN_REPAIR]


def _with_counts(lines):
    lines = list(lines.annotate(received=Count("receipts__items")).order_by("number"))
    for line in lines:
        line.outstanding = max(line.quantity - line.received, 0)
    return lines


def order_lines(*, order: PurchaseOrder) -> list[PurchaseOrderLine]:
    """The order's lines with ``received`` and ``outstanding`` counts."""
    return _with_counts(order.lines.all())


def order_line(*, line: PurchaseOrderLine) -> PurchaseOrderLine:
    """The line with ``received`` and ``outstanding`` counts."""
    [line] = _with_counts(PurchaseOrderLine.objects.filter(pk=line.pk).select_related("order"))
    return line


def order_receipts(*, order: PurchaseOrder) -> QuerySet[Receipt]:
    return (
        Receipt.objects.filter(line__order=order)
        .select_related("line", "received_by")
        .prefetch_related("items__component")
        .order_by("-received_on", "-id")
    )


@dataclass(frozen=True)
class KindCounts:
    kind: str
    label: str
    counts: list  # per WAREHOUSE_STATUSES


def stock_counts() -> list[KindCounts]:
    """Per kind, the components in stock, faulty and in repair; kinds with none are left out."""
    rows = (
        Component.objects.filter(status__in=WAREHOUSE_STATUSES)
        .values_list("kind", "status")
        .annotate(count=Count("id"))
    )
    counts = {(kind, status): count for kind, status, count in rows}
    return [
        KindCounts(kind, label, [counts.get((kind, status), 0) for status in WAREHOUSE_STATUSES])
        for kind, label in Kind.choices
        if any(counts.get((kind, status)) for status in WAREHOUSE_STATUSES)
    ]


@dataclass(frozen=True)
class ReceivedBatch:
    occurred_at: object
    kind: str
    reference: str
    count: int
    user: str


def recent_receipts(*, limit: int = 10) -> list[ReceivedBatch]:
    """The latest deliveries, on an order or not: components received together, with their PO reference."""
    rows = (
        ComponentEvent.objects.filter(type=ComponentEvent.Type.RECEIVED)
        .values_list("occurred_at", "component__kind", "reason", "user__username")
        .annotate(count=Count("id"))
        .order_by("-occurred_at")[:limit]
    )
    return [
        ReceivedBatch(at, Kind(kind).label, reference, count, username or "")
        for at, kind, reference, username, count in rows
    ]


def cases_waiting_for_assembly() -> QuerySet[Case]:
    """Cases in stock holding no cell block or board yet."""
    fitted = Installation.objects.filter(position__parent=OuterRef("pk"), removed_at__isnull=True)
    return Case.objects.filter(status=Status.IN_STOCK).exclude(Exists(fitted)).order_by("serial")


def open_orders() -> QuerySet[PurchaseOrder]:
    open_statuses = [PurchaseOrder.Status.PLACED, PurchaseOrder.Status.PARTLY_RECEIVED]
    return (
        PurchaseOrder.objects.filter(status__in=open_statuses)
        .select_related("supplier")
        .order_by("expected_on")
    )


def location_of(*, component: Component) -> StockLocation | None:
    """Where ``component`` sits in stock: its last move since it was last removed; None when installed or
    not yet placed."""
    if Installation.objects.filter(component=component, removed_at__isnull=True).exists():
        return None
    moves = StockMove.objects.filter(component=component)
    last_removal = (
        Installation.objects.filter(component=component, removed_at__isnull=False)
        .order_by("-removed_at")
        .values_list("removed_at", flat=True)
        .first()
    )
    if last_removal is not None:
        moves = moves.filter(moved_at__gte=last_removal)
    move = (
        moves.select_related("to_location__warehouse", "to_location__site")
        .order_by("-moved_at", "-id")
        .first()
    )
    return move.to_location if move else None


def moves_of(*, component: Component) -> QuerySet[StockMove]:
    return StockMove.objects.filter(component=component).select_related(
        "from_location__warehouse",
        "from_location__site",
        "to_location__warehouse",
        "to_location__site",
        "moved_by",
    )


def receiving_locations() -> QuerySet[StockLocation]:
    """Where a delivery may go: a warehouse, shelf or van (never straight into a site's cupboard)."""
    return StockLocation.objects.exclude(kind=StockLocation.Kind.CUPBOARD).select_related("warehouse")


def default_receiving_location() -> StockLocation | None:
    return StockLocation.objects.filter(kind=StockLocation.Kind.WAREHOUSE).order_by("pk").first()


def locations_for(*, user) -> QuerySet[StockLocation]:
    """The locations ``user`` may move stock to: all for the warehouse, their vans and site cupboards else."""
    locations = StockLocation.objects.select_related("warehouse", "site")
    if user.has_perm("stock.change_stocklocation"):
        return locations
    return locations.filter(
        Q(kind=StockLocation.Kind.CUPBOARD) | Q(kind=StockLocation.Kind.VAN, engineer=user)
    )


def van_of(*, user) -> StockLocation | None:
    """The van ``user`` drives, if any (the first, should they have two)."""
    if user is None:
        return None
    return StockLocation.objects.filter(kind=StockLocation.Kind.VAN, engineer=user).order_by("pk").first()


def contents_of(*, location: StockLocation) -> list[Component]:
    """The components whose current location is ``location``."""
    candidates = Component.objects.filter(stock_moves__to_location=location).exclude(status=Status.INSTALLED)
    return [
        c for c in candidates.distinct().order_by("kind", "serial") if location_of(component=c) == location
    ]


def with_stock_location(components: QuerySet[Component]) -> QuerySet[Component]:
    """``components`` annotated with ``stock_location_id``: the target of their last move since their last
    removal (None for installed ones: installing takes a component out of its location)."""
    last_removal = Installation.objects.filter(component=OuterRef("pk"), removed_at__isnull=False)
    last_removal = last_removal.order_by("-removed_at").values("removed_at")[:1]
    moves = StockMove.objects.filter(
        component=OuterRef("pk"),
        moved_at__gte=Coalesce(OuterRef("last_removed_at"), Value(datetime.min.replace(tzinfo=UTC))),
    )
    return components.annotate(last_removed_at=Subquery(last_removal)).annotate(
        stock_location_id=Subquery(moves.order_by("-moved_at", "-id").values("to_location")[:1])
    )


@dataclass(frozen=True)
class SpareLevelCounts:
    """A spare level against its stock. ``reserved``: those of ``in_stock`` with an open Reservation, set
    aside for a job; ``available`` (in stock, not reserved) is what counts against the minimum, so stock
    promised to a job raises the low-stock alert as if it were gone."""

    level: SpareLevel
    in_stock: int
    reserved: int
    in_repair: int

    @property
    def available(self) -> int:
        return self.in_stock - self.reserved

    @property
    def short(self) -> int:
        return max(self.level.minimum - self.available, 0)


def _level_components(level):
    components = Component.objects.filter(kind=level.kind)
    return components.filter(model_number=level.model_number) if level.model_number else components


def spare_level_counts(*, levels=None) -> list[SpareLevelCounts]:
    """Each spare level with what is in stock (in its location, or anywhere), reserved of that, and in
    repair."""
    levels = (
        levels
        if levels is not None
        else SpareLevel.objects.select_related("location__warehouse", "location__site")
    )
    reserved = Reservation.objects.filter(component=OuterRef("pk"), released_at=None)
    counts = []
    for level in levels:
        components = _level_components(level)
        in_stock = components.filter(status=Status.IN_STOCK)
        if level.location_id is not None:
            in_stock = with_stock_location(in_stock).filter(stock_location_id=level.location_id)
        counts.append(
            SpareLevelCounts(
                level,
                in_stock=in_stock.count(),
                reserved=in_stock.filter(Exists(reserved)).count(),
                in_repair=components.filter(status=Status.IN_REPAIR).count(),
            )
        )
    return counts


def replacements_of(*, component: Component) -> list[tuple[Component, Component]]:
    """(old, new) pairs of the RMA replacements of and by ``component``."""
    repairs = Repair.objects.filter(
        Q(component=component) | Q(replacement=component), replacement__isnull=False
    )
    return [
        (repair.component, repair.replacement)
        for repair in repairs.select_related("component", "replacement")
    ]


def docks_of_site(*, site) -> list[Position]:
    """The dock positions of the busbars installed on ``site`` now, in cabinet and dock order."""
    now_installed = Installation.objects.filter(removed_at__isnull=True).select_related("position")
    cabinet_numbers = {
        i.component_id: i.position.number
        for i in now_installed.filter(position__site=site, position__kind=Kind.CABINET)
    }
    busbar_cabinets = {
        i.component_id: cabinet_numbers[i.position.parent_id]
        for i in now_installed.filter(position__parent__in=cabinet_numbers, position__kind=Kind.BUSBAR)
    }
    docks = Position.objects.filter(parent__in=busbar_cabinets, kind=Kind.CASE)
    return sorted(docks, key=lambda dock: (busbar_cabinets[dock.parent_id], dock.number))


def open_low_stock_alerts() -> QuerySet[LowStockAlert]:
    return LowStockAlert.objects.filter(cleared_at=None).select_related(
        "level__location__warehouse", "level__location__site"
    )
