"""Telemetry: the landing table, the readings hypertables, latest state, rollups, quarantine, discrepancies.

Readings and rollups are TimescaleDB hypertables (migration 0002). Their primary key is (entity, time), so a
re-sent sample is never stored twice. They point at assets rows by id without database foreign keys: a
foreign-key check per row would slow the COPY path, components and sites are never deleted, and every id is
resolved by the ingest service from master data before it is written.

Chunk intervals, for a fleet of hundreds of sites (say 300) at one sample per 5 s:

* pack readings: 300 sites x 48 packs / 5 s is ~2,900 rows/s, ~10 M rows (~3 GB with indexes) an hour.
  1-hour chunks keep the chunk being written, and its indexes, well inside memory, and let retention
  drop raw data at an hourly grain.
* MPPT / inverter readings: a few devices per site, ~20 M rows a day: 1-day chunks.
* 1-minute rollups: ~20 M pack rows a day, but narrow: 1-day chunks. 1-hour rollups: 7-day chunks.
* site rollups (one row per site, not per pack): ~430,000 1-minute rows a day: 7-day chunks; 1-hour: 30-day.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from assets.constants import (
    CELL_BLOCKS_PER_CASE,
    FETS_PER_BOARD,
    LOAD_OUTPUTS,
    PACK_TEMPS,
    PV_INPUTS,
    pms_dock_name,
)
from assets.models import Component, Installation, Site
from pms_site.timefmt import format_datetime


class RealField(models.FloatField):
    """A 4-byte float (PostgreSQL ``real``): ample for sensor values, half the size of double precision."""

    def db_type(self, connection):
        return "real"


def real_array(size, **kwargs):
    return ArrayField(RealField(), size=size, **kwargs)


def unconstrained_fk(model, **kwargs):
    """A foreign key in Django only; see the module docstring for why the database has none."""
    return models.ForeignKey(
        model, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+", **kwargs
    )


class WorkerHeartbeat(models.Model):
    """Written by a periodic Celery task, so pages can tell whether the ingest workers are alive."""

    hostname = models.CharField(max_length=200, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self):
        return f"{self.hostname} at {format_datetime(self.beat_at, seconds=True)}"


class DatasetKind(models.TextChoices):
    PMS = "pms", "PMS"
    MPPT = "mppt", "MPPT"
    INVERTER = "inverter", "Inverter"


class DeviceKind(models.TextChoices):
    MPPT = "mppt", "MPPT"
    INVERTER = "inverter", "Inverter"


class GatewayToken(models.Model):
    """One gateway's credential, bound to a site. Only a SHA-256 hash of the token is stored."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="gateway_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=8, editable=False, help_text="First characters, to recognise a token."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the token is rotated: it works until then."
    )
    # Updated at most once a minute per token (telemetry/selectors.py), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_from = models.GenericIPAddressField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["site", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="gateway_token_name_unique")]

    def __str__(self):
        return f"{self.name} ({self.prefix}...) for {self.site.pms_id}"


class IngestBatch(models.Model):
    """The landing table: one payload exactly as it arrived, and what processing made of it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        HTTP = "http", "HTTP"
        FILE = "file", "File"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    received_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.HTTP)
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey(GatewayToken, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payload = models.BinaryField(help_text="The request body, byte for byte.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(
        null=True, blank=True, help_text="When the latest attempt started (the sweep finds abandoned ones)."
    )
    stored = models.PositiveIntegerField(default=0)
    duplicate = models.PositiveIntegerField(default=0)
    quarantined = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "ingest batches"
        indexes = [
            models.Index(fields=["received_at"], name="batch_received_idx"),
            models.Index(
                fields=["enqueued_at"],
                condition=Q(status__in=["pending", "processing"]),
                name="batch_unprocessed_idx",
            ),
        ]

    def __str__(self):
        return f"Batch {self.id} ({self.get_status_display().lower()})"


class QuarantinedRecord(models.Model):
    """A record that failed validation or could not be resolved, kept as it arrived."""

    batch = models.ForeignKey(IngestBatch, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=DatasetKind.choices)
    device_id = models.CharField(max_length=64, help_text="The dataset's PMS, MPPT or inverter id.")
    dataset_index = models.PositiveIntegerField()
    record_index = models.PositiveIntegerField()
    record = models.TextField(help_text="The record's original JSON.")
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    resolved = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "dataset_index", "record_index"]
        indexes = [models.Index(fields=["resolved", "-created_at"], name="quarantine_open_idx")]

    def __str__(self):
        return f"{self.kind} {self.device_id} record {self.record_index}: {self.reason}"


class Discrepancy(models.Model):
    """An unlogged swap: a case reports from somewhere the installation records do not put it.

    The kind says what the records say instead, at the last sighting (telemetry/discrepancies.py
    ``discrepancy_kind``); it is brought up to date when an installation record changes."""

    class Kind(models.TextChoices):
        OTHER_CASE = "other_case", "Another case is recorded at this dock"
        OTHER_SITE = "other_site", "This case is recorded at another site"
        NOT_INSTALLED = "not_installed", "This case is recorded as in stock, faulty or retired"
        UNKNOWN_DOCK = "unknown_dock", "The dock is not on this PMS's busbars"
        OTHER_DOCK = "other_dock", "This case is recorded at another dock of this site"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    case = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="discrepancies")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    observed_site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    observed_dock = models.PositiveSmallIntegerField(help_text="PMS-wide dock number the case reported.")
    recorded_site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recorded_dock = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="PMS-wide dock number of the recorded installation; empty: none."
    )
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    sample_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_with = models.ForeignKey(
        Installation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="resolved_discrepancies",
        help_text="The install or swap recorded to resolve it, when it was resolved that way.",
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-last_seen"]
        verbose_name_plural = "discrepancies"
        constraints = [
            # The ingest upsert targets this index: one open record per case and observed position.
            models.UniqueConstraint(
                fields=["case", "observed_site", "observed_dock"],
                condition=Q(status="open"),
                name="discrepancy_one_open_per_position",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: case {self.case.serial} seen at {self.observed_place}"

    @property
    def observed_place(self) -> str:
        """ "PMS-01-001 C2-D11 (reported as dock 23)": the dock's name, and the number the PMS reported."""
        name = pms_dock_name(self.observed_dock)
        return f"{self.observed_site.pms_id} {name} (reported as dock {self.observed_dock})"

    @property
    def recorded_place(self) -> str:
        """ "PMS-01-001 C1-D3", or "" when the records put the case nowhere."""
        if self.recorded_site_id is None:
            return ""
        return f"{self.recorded_site.pms_id} {pms_dock_name(self.recorded_dock)}"


class Reattribution(models.Model):
    """The stored readings a late change (an installation record whose time lies in the past) re-resolved:
    readings of a moved acquisition board follow it to the case that held it at each reading's time, and the
    affected cases' discrepancies are re-evaluated. Worked through in chunks by telemetry/reattribution.py."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    installation = models.ForeignKey(
        Installation,
        on_delete=models.PROTECT,
        related_name="reattributions",
        help_text="The installation record whose change set it off.",
    )
    component = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(help_text="The time of the change: the window starts here.")
    window_end = models.DateTimeField(help_text="Readings stored before the change committed end here.")
    next_start = models.DateTimeField(help_text="Where the next chunk of readings starts.")
    cases = ArrayField(models.BigIntegerField(), help_text="Ids of the cases whose readings it re-checks.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    moves = models.JSONField(
        default=dict, help_text='Readings moved, by "from case id>to case id"; "to" empty: quarantined.'
    )
    readings_moved = models.PositiveIntegerField(default=0)
    readings_quarantined = models.PositiveIntegerField(default=0)
    discrepancies_opened = models.PositiveIntegerField(default=0)
    discrepancies_resolved = models.PositiveIntegerField(default=0)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(help_text="Its latest step, or when it was queued.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status"], name="reattribution_status_idx")]

    def __str__(self):
        return f"Re-attribution after {self.installation} ({self.get_status_display().lower()})"


class LateRollupMinute(models.Model):
    """A UTC minute that readings arrived for after beat's rollup refresh had passed it (a gateway's backlog,
    a backfill): its rollups, and those of its hour, are due for a refresh. Written in the transaction that
    stores the readings, so a worker that dies after the commit leaves the refresh due, not lost; the
    rollups worker takes the due minutes in bulk (telemetry/rollups.py ``rollups_refresh_late``).

    A minute may be noted many times (once per batch): with a unique minute, an ingest noting one would wait
    for the refresh deleting it to finish."""

    id = models.BigAutoField(primary_key=True)
    minute = models.DateTimeField(db_index=True)

    def __str__(self):
        return format_datetime(self.minute)


class PackValues(models.Model):
    """The measured values of one pack sample (shared by readings and latest state)."""

    dock = models.PositiveSmallIntegerField(help_text="PMS-wide dock number, as reported.")
    volts = RealField()
    amps = RealField()
    temps = real_array(PACK_TEMPS)
    cell_volts = real_array(CELL_BLOCKS_PER_CASE)
    open_cells = ArrayField(
        models.SmallIntegerField(), help_text=f"Numbers (1-{CELL_BLOCKS_PER_CASE}) of open cells."
    )
    fet_open = ArrayField(models.SmallIntegerField(), help_text=f"Numbers (1-{FETS_PER_BOARD}) of open FETs.")
    fet_temps = real_array(FETS_PER_BOARD)

    class Meta:
        abstract = True

    @property
    def dock_name(self) -> str:
        return pms_dock_name(self.dock)

    @property
    def closed_cell_volts(self):
        """The voltages of the cells not flagged open: an open cell reads about 0 V and measures nothing."""
        return [
            volts for number, volts in enumerate(self.cell_volts, start=1) if number not in self.open_cells
        ]


class DeviceValues(models.Model):
    """The measured values of one MPPT or inverter sample."""

    pv_volts = real_array(PV_INPUTS)
    pv_amps = real_array(PV_INPUTS)
    batt_volts = RealField()
    batt_amps = RealField()
    load_volts = real_array(LOAD_OUTPUTS)
    load_amps = real_array(LOAD_OUTPUTS)

    class Meta:
        abstract = True


class PackReading(PackValues):
    """Hypertable (1-hour chunks), primary key (case, time)."""

    pk = models.CompositePrimaryKey("case", "time")
    time = models.DateTimeField()
    utc_offset_minutes = models.SmallIntegerField(help_text="The gateway's UTC offset, for site-local time.")
    case = unconstrained_fk(Component)
    site = unconstrained_fk(Site)
    board = unconstrained_fk(
        Component,
        null=True,
        help_text="The acquisition board whose id the reading arrived with; empty: it came with its Case id. "
        "A late change to the board's installations moves the reading (telemetry/reattribution.py).",
    )
    batch_id = models.UUIDField(null=True)

    class Meta:
        indexes = [models.Index(fields=["site", "-time"], name="packreading_site_time_idx")]

    def __str__(self):
        return f"Case {self.case_id} at {format_datetime(self.time, seconds=True)}"


class DeviceReading(DeviceValues):
    pk = models.CompositePrimaryKey("device", "time")
    time = models.DateTimeField()
    utc_offset_minutes = models.SmallIntegerField()
    device = unconstrained_fk(Component)
    site = unconstrained_fk(Site)
    batch_id = models.UUIDField(null=True)

    class Meta:
        abstract = True

    def __str__(self):
        return f"Device {self.device_id} at {format_datetime(self.time, seconds=True)}"


class MpptReading(DeviceReading):
    """Hypertable (1-day chunks), primary key (device, time)."""

    class Meta:
        indexes = [models.Index(fields=["site", "-time"], name="mpptreading_site_time_idx")]


class InverterReading(DeviceReading):
    """Hypertable (1-day chunks), primary key (device, time)."""

    class Meta:
        indexes = [models.Index(fields=["site", "-time"], name="inverterreading_site_time_idx")]


class PackState(PackValues):
    """The newest reading of each pack, upserted in the transaction that stores the readings."""

    case = models.OneToOneField(
        Component, primary_key=True, on_delete=models.PROTECT, related_name="telemetry_state"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    time = models.DateTimeField()
    utc_offset_minutes = models.SmallIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["site", "dock"]
        indexes = [models.Index(fields=["site", "dock"], name="packstate_site_dock_idx")]

    def __str__(self):
        return f"Case {self.case_id} at {format_datetime(self.time, seconds=True)}"


class DeviceState(DeviceValues):
    """The newest reading of each MPPT and inverter."""

    device = models.OneToOneField(
        Component, primary_key=True, on_delete=models.PROTECT, related_name="telemetry_device_state"
    )
    kind = models.CharField(max_length=8, choices=DeviceKind.choices)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    time = models.DateTimeField()
    utc_offset_minutes = models.SmallIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["site", "kind", "device"]
        indexes = [models.Index(fields=["site", "kind"], name="devicestate_site_kind_idx")]

    def __str__(self):
        return f"{self.kind} {self.device_id} at {format_datetime(self.time, seconds=True)}"


class PackRollup(models.Model):
    """min/avg/max of a pack's readings over one bucket; ``n`` readings went into it."""

    bucket = models.DateTimeField()
    case = unconstrained_fk(Component)
    site = unconstrained_fk(Site)
    n = models.IntegerField()
    volts_min = RealField()
    volts_avg = RealField()
    volts_max = RealField()
    amps_min = RealField()
    amps_avg = RealField()
    amps_max = RealField()
    cell_min = RealField(help_text="Lowest cell voltage in the bucket (cells flagged open left out).")
    cell_max = RealField(help_text="Highest cell voltage in the bucket (cells flagged open left out).")
    cell_delta_max = RealField(help_text="Largest (max cell - min cell) of any one reading.")
    cell_volts_avg = real_array(
        CELL_BLOCKS_PER_CASE,
        null=True,
        help_text=f"Average voltage of each cell, 1-{CELL_BLOCKS_PER_CASE}. Empty in rollups computed "
        "before it was added: refresh_rollups over their range fills it while the raw readings are kept.",
    )
    temp_max = RealField()
    fet_temp_max = RealField()
    # Empty in rollups computed before they were added: refresh_rollups fills them while raw data is kept.
    charge_power_avg = RealField(null=True, help_text="Average of volts x amps while charging (else 0), W.")
    discharge_power_avg = RealField(null=True, help_text="Average of -volts x amps while discharging, W.")
    charge_amps_avg = RealField(null=True, help_text="Average of amps while charging (0 otherwise).")
    discharge_amps_avg = RealField(null=True, help_text="Average of -amps while discharging (0 otherwise).")

    class Meta:
        abstract = True

    def __str__(self):
        return f"Case {self.case_id} from {format_datetime(self.bucket)}"


class PackRollup1m(PackRollup):
    """Hypertable (1-day chunks), primary key (case, bucket)."""

    pk = models.CompositePrimaryKey("case", "bucket")

    class Meta:
        indexes = [models.Index(fields=["site", "-bucket"], name="packrollup1m_site_idx")]


class PackRollup1h(PackRollup):
    """Hypertable (7-day chunks), primary key (case, bucket)."""

    pk = models.CompositePrimaryKey("case", "bucket")

    class Meta:
        indexes = [models.Index(fields=["site", "-bucket"], name="packrollup1h_site_idx")]


class SiteRollup(models.Model):
    """The site chart's figures across every pack of a site over one bucket, from the pack rollups of the
    same width (so a site chart reads one row per bucket instead of one per pack); ``n`` readings went into
    it. Averages are weighted by readings and kept in double precision, so the charts' averages over them
    equal those over the pack rollups."""

    bucket = models.DateTimeField()
    site = unconstrained_fk(Site)
    n = models.IntegerField()
    volts_min = RealField()
    volts_avg = models.FloatField()
    volts_max = RealField()
    amps_min = RealField()
    amps_avg = models.FloatField()
    amps_max = RealField()
    temp_max = RealField()
    cell_min = RealField(help_text="Lowest cell voltage of any pack (cells flagged open left out).")
    cell_max = RealField(help_text="Highest cell voltage of any pack (cells flagged open left out).")

    class Meta:
        abstract = True

    def __str__(self):
        return f"Site {self.site_id} from {format_datetime(self.bucket)}"


class SiteRollup1m(SiteRollup):
    """Hypertable (7-day chunks), primary key (site, bucket)."""

    pk = models.CompositePrimaryKey("site", "bucket")


class SiteRollup1h(SiteRollup):
    """Hypertable (30-day chunks), primary key (site, bucket)."""

    pk = models.CompositePrimaryKey("site", "bucket")


class DeviceRollup(models.Model):
    """min/avg/max of an MPPT's or inverter's readings over one bucket. Power is volts x amps per input."""

    bucket = models.DateTimeField()
    device = unconstrained_fk(Component)
    kind = models.CharField(max_length=8, choices=DeviceKind.choices)
    site = unconstrained_fk(Site)
    n = models.IntegerField()
    pv1_power_avg = RealField()
    pv1_power_max = RealField()
    pv2_power_avg = RealField()
    pv2_power_max = RealField()
    batt_volts_min = RealField()
    batt_volts_avg = RealField()
    batt_volts_max = RealField()
    batt_amps_min = RealField()
    batt_amps_avg = RealField()
    batt_amps_max = RealField()
    load_power_avg = RealField(help_text="Both load outputs together.")
    load_power_max = RealField()

    class Meta:
        abstract = True

    def __str__(self):
        return f"Device {self.device_id} from {format_datetime(self.bucket)}"


class DeviceRollup1m(DeviceRollup):
    """Hypertable (1-day chunks), primary key (device, bucket)."""

    pk = models.CompositePrimaryKey("device", "bucket")

    class Meta:
        indexes = [models.Index(fields=["site", "-bucket"], name="devicerollup1m_site_idx")]


class DeviceRollup1h(DeviceRollup):
    """Hypertable (7-day chunks), primary key (device, bucket)."""

    pk = models.CompositePrimaryKey("device", "bucket")

    class Meta:
        indexes = [models.Index(fields=["site", "-bucket"], name="devicerollup1h_site_idx")]
