"""Analytics on injected faults: 48 packs (4 sites of 12) over 14 site-local days, 4 of them with a fault
(telemetry/faults.py) and one site with a data gap, through the ingest pipeline and the rollups.

Reported: the cases the analytics flag against the injected truth (precision, recall), the energy totals
against the simulator's exact integrals of what it sent, the gap day's coverage, and the analytics' time as
a share of the rollup job's, over the whole backfill and over one beat cycle (ten 1-minute refreshes and
one 1-hour refresh; the health summaries at their hourly rate). To keep the run to a few minutes the days
are sampled every 60 s, the last two hours every 5 s as gateways send (the beat cycle runs on those).
"""

import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
from django.conf import settings
from django.utils import timezone

from analytics.daily import site_days
from analytics.hours import refresh_hours
from analytics.models import CaseHealth, Light
from analytics.selectors import coverage_text, day_minutes
from analytics.services import HEALTH_REFRESH_EVERY, analytics_refresh, case_health_refresh
from assets import services
from assets.models import Kind
from bench import Figure
from bench.fixtures import SAMPLES_PER_PAYLOAD, bench_site
from telemetry.faults import Fault, FaultPlan, Gap
from telemetry.rollups import ONE_HOUR, ONE_MINUTE, bucket_start, refresh_all_rollups, refresh_recent_rollups
from telemetry.services import ingest_payload
from telemetry.signals import rollups_refreshed
from telemetry.simulation import Simulator, sample_times, site_layout

SITES, DAYS, TIME_ZONE = 4, 14, "Asia/Bangkok"
COARSE_STEP, FINE_STEP, FINE_HOURS = 60, 5, 2
# (site index, dock, fault)
FAULTS = (
    (0, 3, Fault.WEAK_CELL),
    (1, 5, Fault.HIGH_RESISTANCE),
    (2, 8, Fault.SELF_DISCHARGE),
    (3, 10, Fault.HOT_PACK),
)
GAP_SITE, GAP_DAY, GAP_FROM, GAP = (
    3,
    9,
    10,
    timedelta(hours=2, minutes=20),
)  # site 4, day 10, from 10:00 local
ENERGY = ("mppt_pv_kwh", "inverter_pv_kwh", "charged_kwh", "discharged_kwh", "load_kwh")


def _add_devices(site, number, at):
    for kind, prefix in ((Kind.MPPT, "MPPT"), (Kind.INVERTER, "INV")):
        serial = f"{prefix}-BENCH-{number}"
        [device] = services.components_receive(
            kind=kind, serials=[serial], user=None, configured_ids={serial: serial}
        )
        position = services.site_position_get_or_create(site=site, kind=kind, number=1)
        services.component_install(component=device, position=position, user=None, at=at)


class Integrals:
    """The exact energy (kWh) of the samples sent: each sample's power over its own sampling interval."""

    def __init__(self):
        self.kwh = dict.fromkeys(ENERGY, 0.0)

    def add(self, payload, step):
        hours = step / 3600 / 1000
        for dataset in payload["datasets"]:
            if "pms" in dataset:
                for record in dataset["data"]:
                    power = float(record["pack"]["volts"]) * float(record["pack"]["amps"])
                    self.kwh["charged_kwh" if power > 0 else "discharged_kwh"] += abs(power) * hours
                continue
            pv = "mppt_pv_kwh" if "mppt" in dataset else "inverter_pv_kwh"
            for record in dataset["data"]:
                for side, name in (("pv", pv), ("load", "load_kwh")):
                    volts, amps = record[side]["volts"], record[side]["amps"]
                    self.kwh[name] += (
                        sum(float(v) * float(a) for v, a in zip(volts, amps, strict=True)) * hours
                    )


def _ingest(site, simulator, times, step, integrals):
    layout = site_layout(site, times[-1])
    for first in range(0, len(times), SAMPLES_PER_PAYLOAD):
        payload = simulator.payload(layout, times[first : first + SAMPLES_PER_PAYLOAD])
        integrals.add(payload, step)
        ingest_payload(raw=msgspec.json.encode(payload), site=site)


def _timed(function, **kwargs):
    began = time.perf_counter()
    function(**kwargs)
    return time.perf_counter() - began


def run(options):
    zone = ZoneInfo(TIME_ZONE)
    today = timezone.now().astimezone(zone).date()
    end = datetime.combine(today, datetime.min.time(), zone)
    start = end - timedelta(days=DAYS)
    services.part_model_create(
        model_number="BENCH-100", kind=Kind.CASE, nominal_ah=Decimal(100), nominal_volts=Decimal("51.2")
    )
    sites = []
    for number in range(1, SITES + 1):
        site = bench_site(
            pms_id=f"PMS-BENCH-AN{number}", cabinets=1, at=start - timedelta(days=1), case_model="BENCH-100"
        )
        _add_devices(site, number, start - timedelta(days=1))
        sites.append(site)
    layouts = [site_layout(site, end) for site in sites]
    plan = FaultPlan(start=start)
    truth = {}
    for site_index, dock, fault in FAULTS:
        pack = next(p for p in layouts[site_index].packs if p.pms_dock == dock)
        plan.faults[pack.pack_id] = fault
        truth[pack.pack_id] = str(fault)
    gap_day = (start + timedelta(days=GAP_DAY)).date()
    gap_start = datetime.combine(gap_day, datetime.min.time(), zone) + timedelta(hours=GAP_FROM)
    plan.gaps.append(Gap(layouts[GAP_SITE].pms_id, gap_start, gap_start + GAP))
    truth_path = Path(settings.BASE_DIR) / "var" / "bench-analytics-truth.json"
    truth_path.parent.mkdir(exist_ok=True)
    plan.write_truth(truth_path)
    print(f"  injected truth written to {truth_path}: {', '.join(f'{k} {v}' for k, v in truth.items())}")

    # The bench times the analytics itself, not as a task queued after each rollup refresh.
    rollups_refreshed.disconnect(dispatch_uid="analytics.refresh_after_rollups")
    integrals = Integrals()
    fine_start = end - timedelta(hours=FINE_HOURS)
    began = time.perf_counter()
    for site in sites:
        simulator = Simulator([site_layout(site, end)], swap_at=None, faults=plan)
        _ingest(site, simulator, sample_times(start, fine_start, COARSE_STEP), COARSE_STEP, integrals)
        _ingest(site, simulator, sample_times(fine_start, end, FINE_STEP), FINE_STEP, integrals)
    print(f"  simulated and ingested {DAYS} days in {time.perf_counter() - began:.0f} s")

    rollup_seconds = _timed(refresh_all_rollups, start=start, end=end)
    analytics_seconds = _timed(analytics_refresh, start=start, end=end, now=end)
    # One beat cycle at the end of the data: the 1-minute refresh every minute for 10 minutes, the 1-hour
    # refresh once, and the analytics of the hours that one covered.
    cycle_rollups = sum(
        _timed(refresh_recent_rollups, width=ONE_MINUTE, now=end - timedelta(minutes=minute))
        for minute in range(10)
    ) + _timed(refresh_recent_rollups, width=ONE_HOUR, now=end)
    cycle_start = bucket_start(end - settings.TELEMETRY_ROLLUP_1H_LATENESS, ONE_HOUR)  # as the signal says
    cycle_hours = _timed(refresh_hours, start=cycle_start, end=end)
    # Every case's health, as in the cycle after HEALTH_REFRESH_EVERY; in between, cycles skip it.
    cases = set(CaseHealth.objects.values_list("case_id", flat=True))
    cycle_health = _timed(case_health_refresh, case_ids=cases, now=end)
    health_share = timedelta(minutes=10) / HEALTH_REFRESH_EVERY
    cycle_analytics = cycle_hours + cycle_health * health_share

    flagged = {
        health.case.serial: health
        for health in CaseHealth.objects.select_related("case").filter(light__in=[Light.AMBER, Light.RED])
    }
    found = set(flagged) & set(truth)
    precision = len(found) / len(flagged) if flagged else 1.0
    recall = len(found) / len(truth)
    for serial, health in sorted(flagged.items()):
        reasons = "; ".join(i["reason"] for i in health.indicators if i["light"] in (Light.AMBER, Light.RED))
        print(f"  flagged {serial} ({truth.get(serial, 'healthy')}): {reasons}")

    days = site_days(
        site_ids=[site.pk for site in sites], first=start.date(), last=(end - timedelta(days=1)).date()
    )
    measured = dict.fromkeys(ENERGY, 0.0)
    for per_day in days.values():
        for figures in per_day.values():
            for name in ENERGY:
                measured[name] += figures[name]
    gap_figures = days[sites[GAP_SITE].pk][gap_day]
    print(
        f"  gap day {gap_day} of {sites[GAP_SITE].pms_id}: "
        f"{coverage_text(gap_figures['minutes'], day_minutes(gap_day, TIME_ZONE))} "
        f"(truth: {GAP} missing)"
    )
    figures = [
        Figure(f"flagged cases (of {SITES * 12}, {len(truth)} faulty)", len(flagged), "cases"),
        Figure("precision (flagged that are faulty)", precision, "", ">= 1"),
        Figure("recall (faulty that are flagged)", recall, "", ">= 1"),
        Figure(
            f"gap day: minutes with data (truth {24 * 60 - GAP.seconds // 60})", gap_figures["minutes"], "min"
        ),
    ]
    for name in ENERGY:
        error = (
            abs(measured[name] - integrals.kwh[name]) / integrals.kwh[name] if integrals.kwh[name] else 0.0
        )
        figures.append(
            Figure(
                f"{name} {measured[name]:.1f} vs exact {integrals.kwh[name]:.1f}: error",
                error * 100,
                "%",
                "< 1",
            )
        )
    figures += [
        Figure("rollups over the 14 days", rollup_seconds, "s"),
        Figure("analytics over the 14 days", analytics_seconds, "s"),
        Figure("analytics / rollups, backfill", analytics_seconds / rollup_seconds * 100, "%", "< 25"),
        Figure("one beat cycle: rollups", cycle_rollups * 1000, "ms"),
        Figure("one beat cycle: analytics hours", cycle_hours * 1000, "ms"),
        Figure("health of all cases (hourly)", cycle_health * 1000, "ms"),
        Figure("analytics / rollups, beat cycle", cycle_analytics / cycle_rollups * 100, "%", "< 25"),
        Figure("same, health every cycle", (cycle_hours + cycle_health) / cycle_rollups * 100, "%"),
    ]
    return figures
