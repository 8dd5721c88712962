"""The figures computed from readings, defined once: the rollup tables store them and the charts read them.

A ``Measure`` is an SQL expression over one reading and the statistics kept of it; ``name_stat`` is the rollup
column (``volts_min``, ``pv1_power_avg`` ...). The rollups aggregate readings into 1-minute buckets and those
into 1-hour buckets (``of_readings``, ``of_rollups``); a chart aggregates any of the three tables into its own
buckets the same way.

Cells flagged open are left out of the lowest and highest cell and of the spread, as they are on the pages
and in the alarms.
"""

from dataclasses import dataclass

from assets.constants import CELL_NUMBERS, FETS_PER_BOARD, LOAD_OUTPUTS, PACK_TEMPS, PV_INPUTS

MIN, AVG, MAX = "min", "avg", "max"
# A statistic over finer rollup rows, each of which aggregated ``n`` readings.
_OVER_ROLLUPS = {MIN: "min({column})", MAX: "max({column})", AVG: "sum({column}::float8 * n) / sum(n)"}


def closed_cells(function):
    """SQL: ``function`` (LEAST or GREATEST) of a reading's cells that are not flagged open; NULL when all
    are. An open cell reads about 0 V, so it is no cell's low or high. Readings without an open cell, nearly
    all of them, take the cheaper first branch."""
    every = ", ".join(f"cell_volts[{n}]" for n in CELL_NUMBERS)
    closed = ", ".join(f"CASE WHEN {n} <> ALL(open_cells) THEN cell_volts[{n}] END" for n in CELL_NUMBERS)
    return f"CASE WHEN cardinality(open_cells) = 0 THEN {function}({every}) ELSE {function}({closed}) END"


def _greatest(array, size):
    return f"GREATEST({', '.join(f'{array}[{n}]' for n in range(1, size + 1))})"


def _power(prefix, number):
    return f"{prefix}_volts[{number}] * {prefix}_amps[{number}]"


CELL_MIN, CELL_MAX = closed_cells("LEAST"), closed_cells("GREATEST")
PACK_TEMP_MAX = _greatest("temps", PACK_TEMPS)
FET_TEMP_MAX = _greatest("fet_temps", FETS_PER_BOARD)
PV_POWERS = [_power("pv", n) for n in range(1, PV_INPUTS + 1)]
LOAD_POWER = " + ".join(_power("load", n) for n in range(1, LOAD_OUTPUTS + 1))


@dataclass(frozen=True)
class Measure:
    name: str
    expression: str  # SQL over one reading
    stats: tuple[str, ...] = (MIN, AVG, MAX)

    def column(self, stat):
        return f"{self.name}_{stat}"

    def of_readings(self, stat):
        return f"{stat}({self.expression})"

    def of_rollups(self, stat):
        return _OVER_ROLLUPS[stat].format(column=self.column(stat))


PACK_MEASURES = (
    Measure("volts", "volts"),
    Measure("amps", "amps"),
    Measure("cell", CELL_MIN, (MIN,)),
    Measure("cell", CELL_MAX, (MAX,)),
    Measure("cell_delta", f"{CELL_MAX} - {CELL_MIN}", (MAX,)),
    Measure("temp", PACK_TEMP_MAX, (MAX,)),
    Measure("fet_temp", FET_TEMP_MAX, (MAX,)),
    # Charge (amps > 0) and discharge apart, so energy and Ah throughput can be summed from the rollups.
    Measure("charge_power", "GREATEST(volts * amps, 0)", (AVG,)),
    Measure("discharge_power", "GREATEST(-volts * amps, 0)", (AVG,)),
    Measure("charge_amps", "GREATEST(amps, 0)", (AVG,)),
    Measure("discharge_amps", "GREATEST(-amps, 0)", (AVG,)),
)
# The pack chart's figures: across the packs of a site (kept per site by the site rollups), or of one case.
PACK_CHART = [("volts", (MIN, AVG, MAX)), ("amps", (MIN, AVG, MAX)), ("temp", (MAX,)), ("cell", (MIN, MAX))]


def pack_chart_measures():
    """(measure, statistic) of each figure of the pack chart."""
    return [
        (next(m for m in PACK_MEASURES if m.name == name and stat in m.stats), stat)
        for name, stats in PACK_CHART
        for stat in stats
    ]


DEVICE_MEASURES = (
    *(Measure(f"pv{n}_power", power, (AVG, MAX)) for n, power in enumerate(PV_POWERS, start=1)),
    Measure("batt_volts", "batt_volts"),
    Measure("batt_amps", "batt_amps"),
    Measure("load_power", LOAD_POWER, (AVG, MAX)),
)

# Each cell's average, kept by pack rollups as one real[] column for the per-cell chart of a case's life.
CELL_AVERAGES_COLUMN = "cell_volts_avg"


def cell_averages_of_readings():
    """SQL, one per cell: its average over the readings aggregated."""
    return [f"avg(cell_volts[{n}])" for n in CELL_NUMBERS]


def cell_averages_of_rollups():
    """SQL, one per cell: the weighted average of the cell's averages over the rollup rows aggregated,
    skipping rows that have none (computed before the column was added)."""
    column = CELL_AVERAGES_COLUMN
    return [
        f"sum({column}[{n}]::float8 * n) / sum(n) FILTER (WHERE {column} IS NOT NULL)" for n in CELL_NUMBERS
    ]
