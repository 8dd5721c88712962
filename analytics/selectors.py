"""Reads of the analytics for the pages: a site's energy by day and month, the fleet's total, a case's health
and its daily figures over its whole life, and the fleet's cases that need attention."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from analytics.daily import case_days, device_yields, site_days
from analytics.indicators import cell_deviations
from analytics.models import CaseHealth, Light
from assets.models import Component, Installation, Site

ENERGY_DAYS = 30
ENERGY_FIGURES = ("mppt_pv_kwh", "inverter_pv_kwh", "charged_kwh", "discharged_kwh", "load_kwh")


def local_today(time_zone, now=None):
    return (now or timezone.now()).astimezone(ZoneInfo(time_zone)).date()


def day_minutes(day, time_zone):
    """The length of a site-local day in minutes (23 or 25 hours on a daylight-saving change)."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return round((end - start).total_seconds() / 60)


def coverage_text(minutes, of_minutes):
    """'data for 22 h 40 min of 24 h'."""
    hours, rest = divmod(minutes, 60)
    covered = f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"data for {covered} of {of_minutes // 60} h"


@dataclass
class EnergyDay:
    day: date
    minutes: int
    of_minutes: int
    mppt_pv_kwh: float | None = None
    inverter_pv_kwh: float | None = None
    charged_kwh: float | None = None
    discharged_kwh: float | None = None
    load_kwh: float | None = None

    @property
    def complete(self):
        return self.minutes >= self.of_minutes

    @property
    def coverage(self):
        return coverage_text(self.minutes, self.of_minutes)


def site_energy(*, site: Site, days: int = ENERGY_DAYS, now: datetime | None = None) -> dict:
    """The site's last ``days`` site-local days (today included), oldest first, each with its coverage (a day
    without data has none of the figures, it is not zero), the monthly totals of those days, and the PV yield
    of each MPPT and inverter input over them."""
    last = local_today(site.time_zone, now)
    first = last - timedelta(days=days - 1)
    found = site_days(site_ids=[site.pk], first=first, last=last).get(site.pk, {})
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        figures = found.get(day, {"minutes": 0})
        series.append(EnergyDay(day=day, of_minutes=day_minutes(day, site.time_zone), **figures))
    months = {}
    for entry in series:
        if entry.minutes:
            month = months.setdefault(
                entry.day.replace(day=1), {"days": 0, **dict.fromkeys(ENERGY_FIGURES, 0.0)}
            )
            month["days"] += 1
            for name in ENERGY_FIGURES:
                month[name] += getattr(entry, name)
    found_yields = device_yields(site_id=site.pk, first=first, last=last)
    devices = Component.objects.in_bulk({device_id for device_id, *_ in found_yields})
    yields = [
        {"device": devices[device_id], "kind": kind, "input": number, "kwh": kwh}
        for device_id, kind, number, kwh in found_yields
    ]
    chart = {
        "days": [entry.day.isoformat() for entry in series],
        "coverage": [entry.coverage for entry in series],
        **{name: [getattr(entry, name) for entry in series] for name in ENERGY_FIGURES},
    }
    return {"days": series, "months": sorted(months.items()), "yields": yields, "chart": chart}


def fleet_energy(*, days: int = ENERGY_DAYS, now: datetime | None = None) -> dict:
    """Fleet totals (kWh) over the last ``days`` UTC days, summed from each site's local days."""
    last = (now or timezone.now()).date()
    first = last - timedelta(days=days - 1)
    totals = dict.fromkeys(ENERGY_FIGURES, 0.0)
    sites = site_days(site_ids=list(Site.objects.values_list("pk", flat=True)), first=first, last=last)
    for per_day in sites.values():
        for figures in per_day.values():
            for name in ENERGY_FIGURES:
                totals[name] += figures[name]
    pv_kwh = totals["mppt_pv_kwh"] + totals["inverter_pv_kwh"]
    return {"first": first, "last": last, "sites": len(sites), "pv_kwh": pv_kwh, **totals}


def case_health(*, case: Component) -> CaseHealth | None:
    return CaseHealth.objects.filter(case=case).first()


def case_life_chart(*, case: Component) -> dict:
    """The case's daily figures over its whole life, for its trend charts: rest imbalance, the three cells
    furthest from the median under load, resistance, Ah throughput and hours above 45 °C."""
    days = case_days(case_ids=[case.pk]).get(case.pk, [])
    worst = list(cell_deviations(days))[:3]
    return {
        "days": [d.day.isoformat() for d in days],
        "imbalance_mv": [d.rest_imbalance_mv for d in days],
        "resistance_mohm": [d.resistance_mohm for d in days],
        "throughput_ah": [d.charged_ah + d.discharged_ah for d in days],
        "hot_hours": [d.hot_hours for d in days],
        "fet_hot_hours": [d.fet_hot_hours for d in days],
        "deviations": [
            {
                "cell": cell,
                "mv": [d.cell_deviation_mv[cell - 1] if d.cell_deviation_mv else None for d in days],
            }
            for cell in worst
        ],
    }


def needs_attention():
    return CaseHealth.objects.filter(light__in=[Light.AMBER, Light.RED])


def site_attention(*, site: Site) -> dict[int, CaseHealth]:
    """{case id: its health} of the cases of ``site`` that need attention."""
    return {health.case_id: health for health in needs_attention().filter(site=site).select_related("case")}


ATTENTION_KEYS = ("imbalance", "deviation", "resistance", "temperature", "fet_temperature", "alarm", "cycles")


@dataclass
class AttentionRow:
    health: CaseHealth
    position_id: int | None  # where it is installed now, for a swap

    @property
    def case(self):
        return self.health.case

    def indicator(self, key):
        return next((item for item in self.health.indicators if item["key"] == key), None)

    @property
    def flagged(self):
        """The indicators that are not green, worst first."""
        order = {Light.RED: 0, Light.AMBER: 1}
        return sorted(
            (item for item in self.health.indicators if item["light"] in order),
            key=lambda i: order[i["light"]],
        )

    @property
    def summary(self):
        return "; ".join(item["reason"] for item in self.flagged)


def attention_rows(*, sort: str = "light") -> list[AttentionRow]:
    """The cases that need attention fleet-wide, worst first, or by one indicator's value (highest first)."""
    healths = list(needs_attention().select_related("case", "site"))
    installed = dict(
        Installation.objects.filter(
            component_id__in=[h.case_id for h in healths], removed_at__isnull=True
        ).values_list("component_id", "position_id")
    )
    rows = [AttentionRow(health=h, position_id=installed.get(h.case_id)) for h in healths]
    if sort in ATTENTION_KEYS:

        def key(row):
            value = (row.indicator(sort) or {}).get("value")
            return (value is None, -(value or 0))
    else:

        def key(row):
            return (row.health.light != Light.RED, -len(row.flagged), row.case.serial)

    return sorted(rows, key=key)
