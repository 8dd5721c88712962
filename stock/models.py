"""Procurement: suppliers, purchase orders and their lines, and the receipts of components against a line.

A component received on a purchase order keeps its line through ``ReceiptItem``; its cost, received date
and warranty end are written on the component itself (assets.Component) when it is received.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from assets.models import Component, Kind


class Supplier(models.Model):
    name = models.CharField(max_length=100, unique=True)
    contact = models.CharField(max_length=200, blank=True, help_text="Person, e-mail, telephone.")
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class PurchaseOrder(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PLACED = "placed", "Placed"
        PARTLY_RECEIVED = "partly_received", "Partly received"
        RECEIVED = "received", "Received"
        CANCELLED = "cancelled", "Cancelled"

    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="orders")
    reference = models.CharField(max_length=64, unique=True, help_text="The PO number, e.g. PO-2026-014.")
    ordered_on = models.DateField(null=True, blank=True)
    expected_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("receive_purchaseorder", "Can receive components on a purchase order")]
        constraints = [
            models.CheckConstraint(condition=~Q(reference=""), name="purchase_order_reference_set")
        ]

    def __str__(self):
        return f"{self.reference} ({self.supplier})"


class PurchaseOrderLine(models.Model):
    order = models.ForeignKey(PurchaseOrder, on_delete=models.PROTECT, related_name="lines")
    number = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    model_number = models.CharField("model / part number", max_length=64, blank=True)
    quantity = models.PositiveIntegerField()
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code, e.g. USD, THB.")
    warranty_months = models.PositiveSmallIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "number"]
        constraints = [
            models.UniqueConstraint(fields=["order", "number"], name="po_line_number_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="po_line_quantity_positive"),
        ]

    def __str__(self):
        model = f" {self.model_number}" if self.model_number else ""
        return f"{self.order.reference} line {self.number}: {self.quantity} x {Kind(self.kind).label}{model}"


class Receipt(models.Model):
    """One delivery of components against one purchase order line."""

    line = models.ForeignKey(PurchaseOrderLine, on_delete=models.PROTECT, related_name="receipts")
    received_on = models.DateField()
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-received_on", "-id"]

    def __str__(self):
        return f"Receipt {self.pk} on {self.line}"


class ReceiptItem(models.Model):
    receipt = models.ForeignKey(Receipt, on_delete=models.PROTECT, related_name="items")
    component = models.OneToOneField(Component, on_delete=models.PROTECT, related_name="receipt_item")

    def __str__(self):
        return f"{self.component} on {self.receipt}"


class StockLocation(models.Model):
    """Where a component that is not installed sits: a warehouse, a shelf or bin in one, a service van, or a
    site's spares cupboard."""

    class Kind(models.TextChoices):
        WAREHOUSE = "warehouse", "Warehouse"
        SHELF = "shelf", "Shelf / bin"
        VAN = "van", "Service van"
        CUPBOARD = "cupboard", "Site spares cupboard"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100, help_text="E.g. 'Bangkok WH', 'shelf B3', 'van 2'.")
    warehouse = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="shelves",
        help_text="Shelves only.",
    )
    site = models.ForeignKey(
        "assets.Site",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Cupboards only.",
    )
    engineer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="vans",
        help_text="Vans only: the field engineer who drives it.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", "name"]
        permissions = [("move_component", "Can move components between stock locations")]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "name", "warehouse"], name="location_name_unique", nulls_distinct=False
            ),
            models.CheckConstraint(
                condition=(Q(kind="shelf") & Q(warehouse__isnull=False))
                | (~Q(kind="shelf") & Q(warehouse=None)),
                name="location_shelves_in_a_warehouse",
            ),
            models.CheckConstraint(
                condition=(Q(kind="cupboard") & Q(site__isnull=False)) | (~Q(kind="cupboard") & Q(site=None)),
                name="location_cupboards_on_a_site",
            ),
            models.CheckConstraint(
                condition=Q(kind="van") | Q(engineer=None), name="location_engineers_drive_vans"
            ),
        ]

    def __str__(self):
        if self.kind == self.Kind.SHELF:
            return f"{self.warehouse} / {self.name}"
        if self.kind == self.Kind.CUPBOARD:
            return f"{self.site.name} spares cupboard"
        return self.name


class StockMove(models.Model):
    """A component went from one location to another (None: from outside stock, e.g. received, removed)."""

    component = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="stock_moves")
    from_location = models.ForeignKey(
        StockLocation, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="+")
    moved_at = models.DateTimeField()
    moved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-moved_at", "-id"]
        indexes = [
            models.Index(fields=["component", "-moved_at", "-id"], name="stockmove_component_time_idx")
        ]

    def __str__(self):
        return f"{self.component} to {self.to_location} at {self.moved_at:%Y-%m-%d %H:%M}"


class Reservation(models.Model):
    """A component in stock set aside for a job: it stays in stock, but is not available to anyone else.
    Released by hand, or by installing the component (stock.receivers)."""

    component = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="reservations")
    reason = models.CharField(
        max_length=200, help_text="What it is for, e.g. the swap at PMS-01-001 on 3 Dec."
    )
    reserved_at = models.DateTimeField()
    reserved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-reserved_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["component"], condition=Q(released_at=None), name="reservation_one_open_per_component"
            )
        ]

    def __str__(self):
        return f"{self.component} for {self.reason}"


class SpareLevel(models.Model):
    """The fewest spares to keep of a kind (or of one model of it), in one location or overall."""

    kind = models.CharField(max_length=16, choices=Kind.choices)
    model_number = models.CharField("model / part number", max_length=64, blank=True, help_text="Blank: any.")
    location = models.ForeignKey(
        StockLocation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Blank: overall.",
    )
    minimum = models.PositiveIntegerField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", "model_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "model_number", "location"], name="spare_level_unique", nulls_distinct=False
            )
        ]

    def __str__(self):
        what = f"{Kind(self.kind).label} {self.model_number}".strip()
        return f"{what} in {self.location or 'all stock'}"


class LowStockAlert(models.Model):
    """Raised by the daily check while a spare level is below its minimum; cleared once it is not."""

    level = models.ForeignKey(SpareLevel, on_delete=models.PROTECT, related_name="alerts")
    raised_at = models.DateTimeField()
    in_stock = models.PositiveIntegerField(help_text="In stock when raised.")
    reserved = models.PositiveIntegerField(default=0, help_text="Of those, reserved when raised.")
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["level"], condition=Q(cleared_at=None), name="low_stock_one_open_per_level"
            )
        ]

    def __str__(self):
        return f"Low stock: {self.level} ({self.in_stock} of {self.level.minimum})"


class Repair(models.Model):
    """A faulty component sent to a supplier for repair or RMA, and how it came back."""

    class Outcome(models.TextChoices):
        REPAIRED = "repaired", "Repaired, back to stock"
        REPLACED = "replaced", "Replaced by a new serial"
        SCRAPPED = "scrapped", "Scrapped"

    component = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="repairs")
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="repairs")
    rma_number = models.CharField("RMA number", max_length=64, blank=True)
    sent_on = models.DateField()
    under_warranty = models.BooleanField(help_text="Sent on or before the component's warranty end.")
    returned_on = models.DateField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    replacement = models.OneToOneField(
        Component, null=True, blank=True, on_delete=models.PROTECT, related_name="replaces"
    )
    note = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-sent_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["component"], condition=Q(returned_on=None), name="repair_one_open_per_component"
            ),
            models.CheckConstraint(
                condition=Q(returned_on=None, outcome="") | (Q(returned_on__isnull=False) & ~Q(outcome="")),
                name="repair_outcome_when_returned",
            ),
        ]

    def __str__(self):
        rma = f" (RMA {self.rma_number})" if self.rma_number else ""
        return f"{self.component} to {self.supplier}{rma}"

    @property
    def days_away(self):
        return (self.returned_on - self.sent_on).days if self.returned_on else None


class ComponentImport(Component):
    """The components as the bulk import sees them (its own admin page with Import)."""

    class Meta:
        proxy = True
        verbose_name = "component import"
