"""Faults the simulator can inject into chosen cases and sites, and the truth it writes about them.

A ``FaultPlan`` names a fault per pack (by pack id) and data gaps per site; the simulator asks it how each
pack reading is changed and which sample times a site leaves out. ``truth()`` is what was injected, written
to a file so a benchmark or a person can check what the analytics found against it.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Fault(StrEnum):
    WEAK_CELL = "weak_cell"  # one cell of lower capacity: it sags under load and at low charge
    HIGH_RESISTANCE = "high_resistance"  # the whole pack: three times the internal resistance
    SELF_DISCHARGE = "self_discharge"  # one cell loses charge: it drifts down a few mV a day
    HOT_PACK = "hot_pack"  # a cooling fault: the pack and its FETs run hot


FAULT_CELL = 7  # the cell of a weak-cell or self-discharge fault
WEAK_CELL_MV_PER_AMP = 3.0
WEAK_CELL_LOW_CHARGE_MV = 150.0  # further sag per unit of charge below 60 %
EXTRA_MILLIOHM_PER_CELL = 1.6  # on top of the healthy 0.8 per cell
SELF_DISCHARGE_MV_PER_DAY = 4.0
HOT_PACK_DECIDEGREES = 160


@dataclass(frozen=True)
class Gap:
    pms_id: str
    start: datetime
    end: datetime


@dataclass
class FaultPlan:
    """Faults by pack id from ``start`` on, and data gaps (sites sending nothing over [start, end))."""

    start: datetime
    faults: dict[str, Fault] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)

    def cell_millivolts(self, pack_id, cells, *, amps, soc, at):
        """Change a pack's cell voltages (mV, in place) as its fault would."""
        fault = self.faults.get(pack_id)
        if fault == Fault.WEAK_CELL:
            sag = WEAK_CELL_MV_PER_AMP * abs(amps) + WEAK_CELL_LOW_CHARGE_MV * max(0.0, 0.6 - soc)
            cells[FAULT_CELL - 1] -= round(sag)
        elif fault == Fault.HIGH_RESISTANCE:
            extra = round(EXTRA_MILLIOHM_PER_CELL * amps)
            cells[:] = [mv + extra for mv in cells]
        elif fault == Fault.SELF_DISCHARGE:
            days = (at - self.start).total_seconds() / 86400
            cells[FAULT_CELL - 1] -= round(SELF_DISCHARGE_MV_PER_DAY * max(days, 0.0))

    def extra_decidegrees(self, pack_id):
        return HOT_PACK_DECIDEGREES if self.faults.get(pack_id) == Fault.HOT_PACK else 0

    def in_gap(self, pms_id, at):
        return any(gap.pms_id == pms_id and gap.start <= at < gap.end for gap in self.gaps)

    def truth(self):
        return {
            "start": self.start.isoformat(),
            "faults": [
                {
                    "pack_id": pack_id,
                    "fault": str(fault),
                    **({"cell": FAULT_CELL} if fault in CELL_FAULTS else {}),
                }
                for pack_id, fault in sorted(self.faults.items())
            ],
            "gaps": [
                {"pms_id": gap.pms_id, "start": gap.start.isoformat(), "end": gap.end.isoformat()}
                for gap in self.gaps
            ],
        }

    def write_truth(self, path):
        with open(path, "w") as out:
            json.dump(self.truth(), out, indent=2)


CELL_FAULTS = {Fault.WEAK_CELL, Fault.SELF_DISCHARGE}
