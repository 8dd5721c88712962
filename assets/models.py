"""The PMS hardware model.

Physical identity is separate from position:

* ``Component`` is one physical thing for life (a case, a cell block, a busbar ...). It is never deleted.
* ``Position`` is a place that holds one component of one kind: cabinet 1-4 of a site, the controller and
  busbar slots of a cabinet, dock 1..N of a busbar, cell block 1-14 / acquisition board / FET board of a case,
  FET 1-2 of a FET board, and the MPPT and inverter slots of a site.
* ``Installation`` joins the two over a time range ``[installed_at, removed_at)``.
* ``ComponentEvent`` is the domain timeline (received, installed, removed, status changes).

The database itself enforces what must never be wrong; see ``Meta.constraints`` and migration 0002
(composite foreign keys that make a kind fit only where it belongs, and the dock-count trigger).
"""

import zoneinfo

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeBoundary, RangeOperators
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from assets.constants import (
    CELL_BLOCKS_PER_CASE,
    FETS_PER_BOARD,
    MAX_CABINETS,
    MAX_DEVICES,
    MAX_DOCKS,
    MIN_DOCKS,
)
from pms_site.timefmt import format_datetime


class Kind(models.TextChoices):
    CABINET = "cabinet", "Cabinet"
    CONTROLLER = "controller", "Controller"
    BUSBAR = "busbar", "Busbar"
    CASE = "case", "Case"
    CELL_BLOCK = "cell_block", "Cell block"
    ACQ_BOARD = "acq_board", "Acquisition board"
    FET_BOARD = "fet_board", "FET board"
    FET = "fet", "FET"
    MPPT = "mppt", "MPPT charge controller"
    INVERTER = "inverter", "Inverter"


class Status(models.TextChoices):
    IN_STOCK = "in_stock", "In stock"
    INSTALLED = "installed", "Installed"
    FAULTY = "faulty", "Faulty"
    IN_REPAIR = "in_repair", "In repair / RMA"
    RETIRED = "retired", "Retired"


class ControllerType(models.TextChoices):
    EHUB = "ehub", "EHub"
    BBC = "bbc", "BBC"


# Where each kind of component goes: the kind of its parent (None: directly on a site) and the
# highest position number. Docks are the exception: their count is the busbar's own dock_count.
PLACEMENT = {
    Kind.CABINET: (None, MAX_CABINETS),
    Kind.MPPT: (None, MAX_DEVICES),
    Kind.INVERTER: (None, MAX_DEVICES),
    Kind.CONTROLLER: (Kind.CABINET, 1),
    Kind.BUSBAR: (Kind.CABINET, 1),
    Kind.CASE: (Kind.BUSBAR, MAX_DOCKS),
    Kind.CELL_BLOCK: (Kind.CASE, CELL_BLOCKS_PER_CASE),
    Kind.ACQ_BOARD: (Kind.CASE, 1),
    Kind.FET_BOARD: (Kind.CASE, 1),
    Kind.FET: (Kind.FET_BOARD, FETS_PER_BOARD),
}


def validate_time_zone(value):
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone, e.g. 'Asia/Bangkok'.")


class Site(models.Model):
    name = models.CharField(max_length=120, unique=True)
    pms_id = models.CharField(
        "PMS id", max_length=64, unique=True, help_text="Configured on every controller before shipment."
    )
    location = models.CharField(max_length=200, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.pms_id})"


class PartModel(models.Model):
    """A catalogue entry for a model / part number: what the analytics need to know of every unit of it.
    A component is of the part whose ``model_number`` equals its own."""

    model_number = models.CharField("model / part number", max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    manufacturer = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=200, blank=True)
    nominal_ah = models.DecimalField(
        "nominal capacity (Ah)",
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Cases: the rated capacity, for equivalent full cycles.",
    )
    nominal_volts = models.DecimalField(
        "nominal voltage (V)",
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Cases: the rated pack voltage.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", "model_number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(nominal_ah__isnull=True) | Q(nominal_ah__gt=0),
                name="partmodel_nominal_ah_positive",
                violation_error_message="The nominal capacity (Ah) must be more than 0.",
            ),
            models.CheckConstraint(
                condition=Q(nominal_volts__isnull=True) | Q(nominal_volts__gt=0),
                name="partmodel_nominal_volts_positive",
                violation_error_message="The nominal voltage (V) must be more than 0.",
            ),
        ]

    def __str__(self):
        return f"{self.model_number} ({self.get_kind_display()})"


class Component(models.Model):
    kind = models.CharField(max_length=16, choices=Kind.choices)
    serial = models.CharField("serial / hardware id", max_length=64)
    model_number = models.CharField("model / part number", max_length=64, blank=True)
    manufacturer = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_STOCK)
    supplier = models.CharField(max_length=100, blank=True)
    purchase_order = models.CharField(max_length=64, blank=True)
    received_on = models.DateField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    warranty_end = models.DateField(null=True, blank=True)
    batch = models.CharField("batch / lot", max_length=64, blank=True)
    notes = models.TextField(blank=True)
    configured_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="Id configured on the device: the PMS id on a controller, the Case id on an acquisition "
        "board, the device id an MPPT or inverter reports.",
    )
    controller_type = models.CharField(max_length=8, choices=ControllerType.choices, blank=True)
    dock_count = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Busbars only: 4-12.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", "serial"]
        permissions = [("set_component_status", "Can set the status of a component")]
        constraints = [
            models.UniqueConstraint(fields=["kind", "serial"], name="component_serial_unique_per_kind"),
            # Target of the composite foreign keys in migration 0002.
            models.UniqueConstraint(fields=["id", "kind"], name="component_id_kind_unique"),
            models.UniqueConstraint(
                fields=["kind", "configured_id"],
                condition=Q(kind__in=[Kind.MPPT, Kind.INVERTER]) & ~Q(configured_id=""),
                name="device_id_unique_per_kind",
            ),
            models.CheckConstraint(
                # isnull=False: a NULL dock count would make the comparisons NULL, and the CHECK pass.
                condition=Q(
                    kind=Kind.BUSBAR,
                    dock_count__isnull=False,
                    dock_count__gte=MIN_DOCKS,
                    dock_count__lte=MAX_DOCKS,
                )
                | (~Q(kind=Kind.BUSBAR) & Q(dock_count__isnull=True)),
                name="component_dock_count_busbars_only",
            ),
            models.CheckConstraint(
                condition=(Q(kind=Kind.CONTROLLER) & ~Q(controller_type=""))
                | (~Q(kind=Kind.CONTROLLER) & Q(controller_type="")),
                name="component_controller_type_controllers_only",
            ),
            models.CheckConstraint(condition=~Q(serial=""), name="component_serial_not_blank"),
        ]
        indexes = [
            models.Index(fields=["configured_id"], name="component_configured_idx"),
            models.Index(fields=["status", "kind"], name="component_status_kind_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.serial}"


class KindManager(models.Manager):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def get_queryset(self):
        return super().get_queryset().filter(kind=self.kind)


class Case(Component):
    """The battery pack. Its serial is the laser-engraved Case id, which is also the telemetry pack id."""

    objects = KindManager(Kind.CASE)

    class Meta:
        proxy = True


def placement_rules():
    """Q for: the position's number is in range and its parent is of the kind PLACEMENT names."""
    rules = Q()
    for kind, (parent_kind, highest) in PLACEMENT.items():
        if parent_kind is None:
            parent = Q(site__isnull=False, parent__isnull=True, parent_kind="")
        else:
            parent = Q(site__isnull=True, parent__isnull=False, parent_kind=parent_kind)
        rules |= Q(kind=kind, number__gte=1, number__lte=highest) & parent
    return rules


class Position(models.Model):
    """A place for exactly one component of ``kind``: on a site, or inside a parent component."""

    kind = models.CharField(max_length=16, choices=Kind.choices)
    number = models.PositiveSmallIntegerField()
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="positions")
    parent = models.ForeignKey(
        Component, null=True, blank=True, on_delete=models.PROTECT, related_name="child_positions"
    )
    # Copy of parent.kind, kept honest by a composite foreign key (migration 0002).
    parent_kind = models.CharField(max_length=16, choices=Kind.choices, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["site_id", "parent_id", "kind", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "kind", "number"],
                condition=Q(site__isnull=False),
                name="position_unique_on_site",
            ),
            models.UniqueConstraint(
                fields=["parent", "kind", "number"],
                condition=Q(parent__isnull=False),
                name="position_unique_in_parent",
            ),
            models.UniqueConstraint(fields=["id", "kind"], name="position_id_kind_unique"),
            models.CheckConstraint(
                condition=placement_rules(),
                name="position_kind_fits_parent_and_range",
            ),
        ]

    def __str__(self):
        return self.label

    @property
    def label(self):
        names = {Kind.CASE: "dock", Kind.CELL_BLOCK: "cell block", Kind.FET: "FET"}
        if self.kind in names:
            return f"{names[self.kind]} {self.number}"
        if PLACEMENT[self.kind][1] == 1:
            return Kind(self.kind).label.lower()
        return f"{Kind(self.kind).label.lower()} {self.number}"


class TsTzRange(models.Func):
    function = "TSTZRANGE"
    output_field = models.DateTimeField()


class Installation(models.Model):
    """``component`` sat in ``position`` from ``installed_at`` until ``removed_at`` (None: it still does)."""

    component = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="installations")
    component_kind = models.CharField(max_length=16, choices=Kind.choices)
    position = models.ForeignKey(Position, on_delete=models.PROTECT, related_name="installations")
    position_kind = models.CharField(max_length=16, choices=Kind.choices)
    installed_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)
    installed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    removal_reason = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-installed_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(component_kind=models.F("position_kind")), name="installation_kind_fits_position"
            ),
            models.CheckConstraint(
                condition=Q(removed_at__isnull=True) | Q(removed_at__gt=models.F("installed_at")),
                name="installation_removed_after_installed",
            ),
            # No two installations of one component, or in one position, overlap in time; in particular
            # at most one open installation each. These GiST indexes also answer "what was there at T".
            ExclusionConstraint(
                name="installation_position_no_overlap",
                expressions=[
                    ("position", RangeOperators.EQUAL),
                    (TsTzRange("installed_at", "removed_at", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
            ),
            ExclusionConstraint(
                name="installation_component_no_overlap",
                expressions=[
                    ("component", RangeOperators.EQUAL),
                    (TsTzRange("installed_at", "removed_at", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
            ),
        ]
        indexes = [
            models.Index(fields=["position", "-installed_at"], name="install_position_time_idx"),
            models.Index(fields=["component", "-installed_at"], name="install_component_time_idx"),
            # What a position holds now, read from the index alone: the fleet page's installed cases per site
            # (assets.selectors.installed_case_counts) takes three such steps per site.
            models.Index(
                fields=["position"],
                include=["component"],
                condition=Q(removed_at__isnull=True),
                name="install_open_position_idx",
            ),
        ]

    def __str__(self):
        return f"{self.component} in {self.position} from {format_datetime(self.installed_at)}"

    @property
    def is_open(self):
        return self.removed_at is None


class ComponentEvent(models.Model):
    """One entry of a component's domain timeline, written by the services alongside the change itself."""

    class Type(models.TextChoices):
        RECEIVED = "received", "Received"
        INSTALLED = "installed", "Installed"
        REMOVED = "removed", "Removed"
        STATUS_CHANGED = "status_changed", "Status changed"

    component = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="events")
    type = models.CharField(max_length=16, choices=Type.choices)
    occurred_at = models.DateTimeField(help_text="When it happened: the time the change was recorded for.")
    recorded_at = models.DateTimeField(default=timezone.now, help_text="When it was entered.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    position = models.ForeignKey(Position, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    from_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["component", "-occurred_at"], name="event_component_time_idx")]

    def __str__(self):
        return f"{self.component} {self.get_type_display().lower()} at {format_datetime(self.occurred_at)}"
