"""The PMS hardware's fixed numbers: the one definition that models, services, ingest, rollups, the simulator
and the pages all import.

A site's PMS has up to MAX_CABINETS cabinets; each cabinet's busbar has MIN_DOCKS-MAX_DOCKS docks; each dock
holds a case of CELL_BLOCKS_PER_CASE cell blocks, an acquisition board with PACK_TEMPS temperature sensors and
a FET board with FETS_PER_BOARD FETs. MPPTs and inverters have PV_INPUTS PV inputs and LOAD_OUTPUTS load
outputs; a site has at most MAX_DEVICES of each.
"""

MAX_CABINETS = 4
MIN_DOCKS, MAX_DOCKS = 4, 12
CELL_BLOCKS_PER_CASE = 14
PACK_TEMPS = 3
FETS_PER_BOARD = 2
PV_INPUTS = 2
LOAD_OUTPUTS = 2
MAX_DEVICES = 16

# Cell and FET numbers as the PMS reports them (open cells, open FETs) and as positions are numbered.
CELL_NUMBERS = range(1, CELL_BLOCKS_PER_CASE + 1)

# Telemetry reports one dock number per PMS. Cabinet c's local dock d is PMS dock (c - 1) * 12 + d, so the
# number stays stable whatever the size of the busbars. A single-cabinet site reports its local docks as-is.
PMS_DOCK_STRIDE = MAX_DOCKS
MAX_PMS_DOCK = MAX_CABINETS * PMS_DOCK_STRIDE


def pms_dock_number(cabinet_number: int, dock_number: int) -> int:
    return (cabinet_number - 1) * PMS_DOCK_STRIDE + dock_number


def split_pms_dock_number(pms_dock: int) -> tuple[int, int]:
    """PMS-wide dock number -> (cabinet number, dock number on that cabinet's busbar)."""
    return (pms_dock - 1) // PMS_DOCK_STRIDE + 1, (pms_dock - 1) % PMS_DOCK_STRIDE + 1


def dock_name(cabinet_number: int, dock_number: int) -> str:
    """The one name people read for a dock: "C2-D11" is dock 11 of cabinet 2's busbar."""
    return f"C{cabinet_number}-D{dock_number}"


def pms_dock_name(pms_dock: int) -> str:
    """The name of the dock a PMS reports as ``pms_dock``: 23 is "C2-D11"."""
    return dock_name(*split_pms_dock_number(pms_dock))
