"""The analytics on injected faults: a simulated site of eight packs, four with a fault of their own, over
two weeks through the real ingest, rollups and analytics. Exactly the faulty cases are flagged, each for its
own fault."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from django.utils import timezone

from analytics.models import CaseHealth, Light
from analytics.receivers import refresh_after_rollups
from analytics.services import analytics_refresh
from telemetry.faults import Fault, FaultPlan
from telemetry.rollups import refresh_all_rollups
from telemetry.services import ingest_payload
from telemetry.signals import rollups_refreshed
from telemetry.simulation import Simulator, sample_times, site_layout
from tests.factories import build_site

DAYS, STEP, SAMPLES_PER_PAYLOAD = 14, 60, 720
# The fault of the pack at each dock, and the indicator that must name it.
FAULTS = {
    2: (Fault.WEAK_CELL, "deviation"),
    4: (Fault.HIGH_RESISTANCE, "resistance"),
    6: (Fault.SELF_DISCHARGE, "imbalance"),
    8: (Fault.HOT_PACK, "temperature"),
}


@pytest.fixture
def analytics_by_hand():
    """The analytics refreshed by the test, not queued by the rollups' signal to a worker there is none of."""
    rollups_refreshed.disconnect(dispatch_uid="analytics.refresh_after_rollups")
    yield
    rollups_refreshed.connect(refresh_after_rollups, dispatch_uid="analytics.refresh_after_rollups")


@pytest.mark.slow
@pytest.mark.django_db
def test_the_faulty_cases_and_only_they_are_flagged_each_for_its_fault(analytics_by_hand):
    zone = ZoneInfo("Asia/Bangkok")
    end = datetime.combine(timezone.now().astimezone(zone).date(), datetime.min.time(), zone)
    start = end - timedelta(days=DAYS)
    site = build_site(
        cabinets=1, docks=8, pms_id="PMS-FAULTS-1", at=start - timedelta(days=1), time_zone=zone.key
    )
    layout = site_layout(site, end)
    pack_at_dock = {pack.pms_dock: pack.pack_id for pack in layout.packs}
    plan = FaultPlan(start=start, faults={pack_at_dock[dock]: fault for dock, (fault, _) in FAULTS.items()})
    simulator = Simulator([layout], swap_at=None, faults=plan)
    times = sample_times(start, end, STEP)
    for first in range(0, len(times), SAMPLES_PER_PAYLOAD):
        payload = simulator.payload(layout, times[first : first + SAMPLES_PER_PAYLOAD])
        ingest_payload(raw=msgspec.json.encode(payload), site=site)

    refresh_all_rollups(start=start, end=end)
    analytics_refresh(start=start, end=end, now=end)

    health = {h.case_id: h for h in CaseHealth.objects.filter(case__in=site.test_cases.values())}
    assert len(health) == 8
    warned = (Light.AMBER, Light.RED)
    flagged = {
        dock: {item["key"] for item in health[case.pk].indicators if item["light"] in warned}
        for (_, dock), case in site.test_cases.items()
        if health[case.pk].light in warned
    }
    assert set(flagged) == set(FAULTS), {d: health[c.pk].indicators for (_, d), c in site.test_cases.items()}
    for dock, (fault, indicator) in FAULTS.items():
        assert indicator in flagged[dock], f"{fault} at dock {dock} flagged for {flagged[dock]} only"
