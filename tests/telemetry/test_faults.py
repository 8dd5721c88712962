"""Faults injected by the simulator: each changes the readings as described, and the truth is written."""

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from telemetry.faults import FAULT_CELL, Fault, FaultPlan, Gap
from telemetry.simulation import Simulator, sample_times, site_layouts
from tests.factories import build_site

pytestmark = pytest.mark.django_db


@pytest.fixture
def layout():
    build_site(cabinets=1, docks=4, pms_id="PMS-09-001", at=timezone.now() - timedelta(days=3))
    [layout] = site_layouts(timezone.now())
    return layout


def readings(layout, plan, start, hours=24):
    simulator = Simulator([layout], swap_at=None, faults=plan)
    payload = simulator.payload(layout, sample_times(start, start + timedelta(hours=hours), 60))
    by_pack = {}
    for record in payload["datasets"][0]["data"]:
        by_pack.setdefault(record["pack"]["id"], []).append(record)
    return by_pack


def test_each_fault_changes_its_pack_and_a_gap_leaves_out_the_site(layout, tmp_path):
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    healthy, weak, resistive, hot = (pack.pack_id for pack in layout.packs)
    plan = FaultPlan(
        start=start - timedelta(days=10),
        faults={weak: Fault.SELF_DISCHARGE, resistive: Fault.HIGH_RESISTANCE, hot: Fault.HOT_PACK},
        gaps=[Gap(layout.pms_id, start + timedelta(hours=1), start + timedelta(hours=2))],
    )

    faulty, clean = readings(layout, plan, start), readings(layout, FaultPlan(start=start), start)

    def cell(record, number):
        return float(record["pack"]["cell"]["volts"][number - 1])

    assert len(faulty[healthy]) == 24 * 60 - 60 and len(clean[healthy]) == 24 * 60
    def mean_drop(records):  # the fault cell against cell 1, whose fixed offsets differ from dock to dock
        return sum(cell(r, FAULT_CELL) - cell(r, 1) for r in records) / len(records)

    assert -0.045 < mean_drop(faulty[weak]) - mean_drop(clean[weak]) < -0.039  # 40-44 mV after 10-11 days
    assert max(float(r["pack"]["temp"][0]) for r in faulty[hot]) > 45
    assert max(float(r["pack"]["temp"][0]) for r in clean[hot]) < 45
    swings = [max(float(r["pack"]["volts"]) for r in data[resistive]) for data in (faulty, clean)]
    assert swings[0] > swings[1]
    path = tmp_path / "truth.json"
    plan.write_truth(path)
    truth = json.loads(path.read_text())
    assert {item["fault"] for item in truth["faults"]} == {"self_discharge", "high_resistance", "hot_pack"}
    assert truth["gaps"][0]["pms_id"] == layout.pms_id


def test_the_simulate_command_names_a_bad_fault_or_gap(layout):
    with pytest.raises(CommandError, match="--fault 'cold:0001': expected KIND:PACK_ID"):
        call_command("simulate", backfill_days=1, faults=["cold:0001"])
    with pytest.raises(CommandError, match="--gap 'PMS-09-001,yesterday': expected PMS_ID,START,END"):
        call_command("simulate", backfill_days=1, gaps=["PMS-09-001,yesterday"])
