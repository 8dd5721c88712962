"""Analytics: energy and case health per site-local hour, summed from the 1-minute rollups, and a health
summary per case.

An hour row is re-computed whenever the 1-hour rollups of its hour are (analytics/receivers.py), from the
1-minute rollups only: the analytics never read raw readings, so they outlive the raw retention and cost a
fraction of the rollup job. Site-local hours follow the site's time zone (also half-hour offsets); a local day
is the sum of its hours. Like the rollups, they refer to cases, devices and sites by id without database
foreign keys.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models

from assets.constants import CELL_BLOCKS_PER_CASE, PV_INPUTS
from assets.models import Component, Site
from telemetry.models import DeviceKind, unconstrained_fk


class CaseHour(models.Model):
    """One case over one site-local hour. ``minutes``: the 1-minute rollups (minutes with data) it sums."""

    pk = models.CompositePrimaryKey("case", "hour")
    hour = models.DateTimeField(help_text="Start of the site-local hour.")
    day = models.DateField(help_text="The site-local day of the hour.")
    case = unconstrained_fk(Component)
    site = unconstrained_fk(Site)
    minutes = models.SmallIntegerField()
    charged_wh = models.FloatField()
    discharged_wh = models.FloatField()
    charged_ah = models.FloatField()
    discharged_ah = models.FloatField()
    rest_minutes = models.SmallIntegerField(
        help_text="Minutes with |amps| below the rest threshold throughout."
    )
    rest_imbalance_mv = models.FloatField(
        null=True, help_text="Average over the rest minutes of (highest - lowest cell average), mV."
    )
    load_minutes = models.SmallIntegerField(help_text="Minutes with |average amps| above the load threshold.")
    cell_deviation_mv = ArrayField(
        models.FloatField(null=True),
        size=CELL_BLOCKS_PER_CASE,
        null=True,
        help_text="Each cell's average under load against the median of those averages, mV.",
    )
    resistance_mohm = ArrayField(
        models.FloatField(),
        default=list,
        help_text="Estimates dV/dI between consecutive minutes whose average current differs by a step.",
    )
    hot_minutes = models.SmallIntegerField(
        help_text="Minutes with a pack temperature above the hot threshold."
    )
    temp_max = models.FloatField(null=True)
    fet_hot_minutes = models.SmallIntegerField()
    fet_temp_max = models.FloatField(null=True)

    class Meta:
        indexes = [models.Index(fields=["site", "day"], name="casehour_site_day_idx")]

    def __str__(self):
        return f"Case {self.case_id} from {self.hour:%Y-%m-%d %H:%M}"


class DeviceHour(models.Model):
    """One MPPT or inverter over one site-local hour: energy per PV input and of the load outputs."""

    pk = models.CompositePrimaryKey("device", "hour")
    hour = models.DateTimeField(help_text="Start of the site-local hour.")
    day = models.DateField(help_text="The site-local day of the hour.")
    device = unconstrained_fk(Component)
    kind = models.CharField(max_length=8, choices=DeviceKind.choices)
    site = unconstrained_fk(Site)
    minutes = models.SmallIntegerField()
    pv_wh = ArrayField(models.FloatField(), size=PV_INPUTS, help_text="Energy in through each PV input, Wh.")
    load_wh = models.FloatField(help_text="Energy out through the load outputs, Wh.")

    class Meta:
        indexes = [models.Index(fields=["site", "day"], name="devicehour_site_day_idx")]

    def __str__(self):
        return f"{self.kind} {self.device_id} from {self.hour:%Y-%m-%d %H:%M}"


class Light(models.TextChoices):
    GREEN = "green", "OK"
    AMBER = "amber", "Watch"
    RED = "red", "Act"
    GREY = "grey", "Unknown"


class CaseHealth(models.Model):
    """A case's health summary: each indicator with a light and a one-line reason, re-computed with its hours.

    ``indicators`` is a list of {"key", "label", "light", "value", "reason"}; ``value`` is what the fleet list
    sorts by (higher is worse)."""

    case = models.OneToOneField(Component, primary_key=True, on_delete=models.PROTECT, related_name="health")
    site = models.ForeignKey(Site, null=True, on_delete=models.PROTECT, related_name="+")
    computed_at = models.DateTimeField()
    light = models.CharField(max_length=8, choices=Light.choices, help_text="The worst of the indicators.")
    indicators = models.JSONField(default=list)
    throughput_ah = models.FloatField(default=0)
    equivalent_cycles = models.FloatField(null=True)
    resistance_mohm = models.FloatField(null=True, help_text="Median of the recent daily medians.")

    class Meta:
        ordering = ["case"]
        indexes = [models.Index(fields=["light"], name="casehealth_light_idx")]

    def __str__(self):
        return f"Health of case {self.case_id}: {self.light}"

    @property
    def needs_attention(self):
        return self.light in (Light.AMBER, Light.RED)
