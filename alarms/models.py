"""Alarm thresholds and the alarms they raise.

An alarm is keyed by (site, case, kind); ``case`` is empty for site-level alarms. It is ``pending`` while
its condition has not yet lasted the threshold's minimum duration, ``active`` once raised, and ``cleared``
when the clear condition has lasted its own minimum duration. A pending alarm whose condition goes away is
deleted: it was never raised. Cleared alarms are kept as history.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from assets.models import Component, Kind, Site
from pms_site.timefmt import format_duration


class AlarmKind(models.TextChoices):
    CELL_OVER_VOLTAGE = "cell_over_voltage", "Cell over-voltage"
    CELL_UNDER_VOLTAGE = "cell_under_voltage", "Cell under-voltage"
    CELL_DELTA = "cell_delta", "Cell voltage spread"
    PACK_TEMPERATURE = "pack_temperature", "Pack temperature"
    FET_TEMPERATURE = "fet_temperature", "FET temperature"
    FET_OPEN = "fet_open", "FET open"
    PACK_STALE = "pack_stale", "Pack stopped reporting"
    SITE_STALE = "site_stale", "Site stopped reporting"


# Kinds whose condition is a value at or BELOW the raise value; every other kind raises at or above it.
LOW_LIMIT_KINDS = frozenset({AlarmKind.CELL_UNDER_VOLTAGE})
SITE_LEVEL_KINDS = frozenset({AlarmKind.SITE_STALE})
UNITS = {
    AlarmKind.CELL_OVER_VOLTAGE: "V",
    AlarmKind.CELL_UNDER_VOLTAGE: "V",
    AlarmKind.CELL_DELTA: "V",
    AlarmKind.PACK_TEMPERATURE: "°C",
    AlarmKind.FET_TEMPERATURE: "°C",
    AlarmKind.FET_OPEN: "open",
    AlarmKind.PACK_STALE: "min",
    AlarmKind.SITE_STALE: "min",
}


def format_measure(kind: str, value) -> str:
    """A value of an alarm kind with its unit: "3.652 V", or a duration ("6 h 21 min") for the minutes of
    the staleness kinds."""
    unit = UNITS[kind]
    if unit == "min":
        return format_duration(timedelta(minutes=float(value)))
    return f"{round(float(value), 3):g} {unit}"


class Severity(models.TextChoices):
    WARNING = "warning", "Warning"
    ALARM = "alarm", "Alarm"


class AlarmThreshold(models.Model):
    """When an alarm of ``kind`` is raised and cleared. A row with a site overrides the global row."""

    kind = models.CharField(max_length=24, choices=AlarmKind.choices)
    site = models.ForeignKey(
        Site,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alarm_thresholds",
        help_text="Empty: the default for every site. Set: an override for this site only.",
    )
    enabled = models.BooleanField(default=True)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.ALARM)
    raise_value = models.DecimalField(
        max_digits=8,
        decimal_places=3,
        help_text="Raise when the value reaches this (at or above it; at or below it for under-voltage).",
    )
    clear_value = models.DecimalField(
        max_digits=8,
        decimal_places=3,
        help_text="Clear when the value is back to this. The gap to the raise value stops a noisy value "
        "from flapping.",
    )
    raise_after_seconds = models.PositiveIntegerField(
        default=30, help_text="The raise condition must last this long before the alarm is raised."
    )
    clear_after_seconds = models.PositiveIntegerField(
        default=30, help_text="The clear condition must last this long before the alarm is cleared."
    )

    class Meta:
        ordering = ["site_id", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "kind"], nulls_distinct=False, name="alarm_threshold_one_per_site_and_kind"
            ),
            models.CheckConstraint(
                condition=(Q(kind__in=LOW_LIMIT_KINDS) & Q(clear_value__gte=F("raise_value")))
                | (~Q(kind__in=LOW_LIMIT_KINDS) & Q(clear_value__lte=F("raise_value"))),
                name="alarm_threshold_clear_value_on_the_safe_side",
                violation_error_message="The clear value must be on the safe side of the raise value: at or "
                "below it for a high limit, at or above it for under-voltage.",
            ),
        ]

    def __str__(self):
        scope = self.site.pms_id if self.site_id else "all sites"
        return f"{self.get_kind_display()} ({scope})"

    @property
    def unit(self):
        return UNITS[self.kind]

    @property
    def raise_display(self):
        return format_measure(self.kind, self.raise_value)

    @property
    def is_low_limit(self):
        return self.kind in LOW_LIMIT_KINDS

    def raises_at(self, value):
        limit = float(self.raise_value)
        return value <= limit if self.is_low_limit else value >= limit

    def clears_at(self, value):
        limit = float(self.clear_value)
        return value >= limit if self.is_low_limit else value <= limit

    def worse(self, a, b):
        """The worse of two values of this kind (the peak an alarm keeps)."""
        return min(a, b) if self.is_low_limit else max(a, b)


class Alarm(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        CLEARED = "cleared", "Cleared"

    OPEN_STATES = (State.PENDING, State.ACTIVE)

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="alarms")
    case = models.ForeignKey(
        Component,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="alarms",
        limit_choices_to={"kind": Kind.CASE},
    )
    kind = models.CharField(max_length=24, choices=AlarmKind.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    condition_since = models.DateTimeField(help_text="When the raise condition was first seen.")
    raised_at = models.DateTimeField(null=True, blank=True)
    clear_since = models.DateTimeField(
        null=True, blank=True, help_text="When the clear condition was first seen, while it lasts."
    )
    cleared_at = models.DateTimeField(null=True, blank=True)
    value_at_raise = models.FloatField(null=True, blank=True)
    peak_value = models.FloatField()
    last_value = models.FloatField()
    last_seen_at = models.DateTimeField(help_text="Time of the reading last evaluated for this alarm.")
    message = models.CharField(max_length=300, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        permissions = [("acknowledge_alarm", "Can acknowledge an alarm")]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "case", "kind"],
                condition=Q(state__in=["pending", "active"]),
                nulls_distinct=False,
                name="alarm_one_open_per_site_case_kind",
            ),
            models.CheckConstraint(
                condition=Q(state="pending", raised_at__isnull=True, cleared_at__isnull=True)
                | Q(state="active", raised_at__isnull=False, cleared_at__isnull=True)
                | Q(state="cleared", raised_at__isnull=False, cleared_at__isnull=False),
                name="alarm_times_match_state",
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True) | Q(state__in=["active", "cleared"]),
                name="alarm_acknowledged_only_once_raised",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "-raised_at"], name="alarm_site_recent_idx"),
            models.Index(fields=["case", "-raised_at"], name="alarm_case_recent_idx"),
            models.Index(fields=["state", "site"], name="alarm_state_site_idx"),
        ]

    def __str__(self):
        subject = f"case {self.case.serial}" if self.case_id else self.site.pms_id
        return f"{self.get_kind_display()} on {subject} ({self.get_state_display().lower()})"

    @property
    def unit(self):
        return UNITS[self.kind]

    @property
    def peak_display(self):
        return format_measure(self.kind, self.peak_value)
