"""The health indicators of a case, each a light and a one-line reason, from its daily figures.

Pure functions over the daily series of analytics/daily.py (``Day`` rows, oldest first), so each can be
checked on a hand-built series. Levels are judged over the case's last RECENT_DAYS days with data, trends
(least squares, per week) over all the days given (the health window).
"""

import statistics
from dataclasses import dataclass, field
from datetime import date

from analytics.hours import HOT_CELSIUS
from analytics.models import Light

RECENT_DAYS = 7
MIN_TREND_DAYS = 5
# Thresholds: (amber from, red from).
IMBALANCE_MV = (30.0, 50.0)
IMBALANCE_TREND_MV_PER_WEEK = (5.0, 10.0)
DEVIATION_MV = (20.0, 40.0)
RESISTANCE_TO_FLEET = (1.5, 2.0)  # the case's resistance over the fleet's median
HOT_HOURS = (1.0, 12.0)  # in the recent days
MAX_CELSIUS = (50.0, 60.0)
ALARM_HOURS = (1.0, 24.0)  # in the recent days


@dataclass
class Day:
    day: date
    minutes: int = 0
    charged_ah: float = 0.0
    discharged_ah: float = 0.0
    rest_imbalance_mv: float | None = None
    cell_deviation_mv: list = field(default_factory=list)  # per cell, None where no load
    resistance_mohm: float | None = None  # the day's median estimate
    hot_hours: float = 0.0
    temp_max: float | None = None
    fet_hot_hours: float = 0.0
    fet_temp_max: float | None = None


def _light(value, limits):
    amber, red = limits
    return Light.RED if value >= red else Light.AMBER if value >= amber else Light.GREEN


def worst(*lights):
    order = [Light.GREY, Light.GREEN, Light.AMBER, Light.RED]
    return max(lights, key=order.index)


def indicator(key, label, light, value, reason):
    return {"key": key, "label": label, "light": str(light), "value": value, "reason": reason}


def slope_per_week(points):
    """Least-squares slope of (day, value) points, per 7 days; None with fewer than MIN_TREND_DAYS days."""
    points = [(d, v) for d, v in points if v is not None]
    if len({d for d, _ in points}) < MIN_TREND_DAYS:
        return None
    xs = [d.toordinal() for d, _ in points]
    ys = [v for _, v in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return 7 * sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def _recent(days):
    return days[-RECENT_DAYS:]


def _trend_text(slope, unit):
    if slope is None:
        return ""
    direction = "growing" if slope > 0 else "shrinking"
    return f", {direction} {abs(slope):.1f} {unit} a week"


def throughput(*, throughput_ah, nominal_ah, model_number):
    if not nominal_ah:
        named = f"model {model_number!r}" if model_number else "this case (no model number)"
        return indicator(
            "cycles",
            "Cycles",
            Light.GREY,
            None,
            f"{throughput_ah:.0f} Ah through it; no nominal capacity in the part catalogue for {named}",
        )
    cycles = throughput_ah / (2 * nominal_ah)
    return indicator(
        "cycles",
        "Cycles",
        Light.GREEN,
        round(cycles, 2),
        f"{throughput_ah:.0f} Ah through it: {cycles:.1f} equivalent full cycles of {nominal_ah:.0f} Ah",
    )


def imbalance(days):
    """Cell imbalance at rest: its recent average and its trend."""
    recent = [d.rest_imbalance_mv for d in _recent(days) if d.rest_imbalance_mv is not None]
    if not recent:
        return indicator("imbalance", "Imbalance at rest", Light.GREY, None, "no time at rest recorded")
    level = statistics.fmean(recent)
    slope = slope_per_week((d.day, d.rest_imbalance_mv) for d in days)
    light = _light(level, IMBALANCE_MV)
    if slope is not None:
        light = worst(light, _light(slope, IMBALANCE_TREND_MV_PER_WEEK))
    reason = f"cells {level:.0f} mV apart at rest{_trend_text(slope, 'mV')}"
    return indicator("imbalance", "Imbalance at rest", light, round(level, 1), reason)


def cell_deviations(days):
    """{cell number: average deviation from the pack median under load (mV)} over the recent days, weighted
    equally per day, cells worst first."""
    sums = {}
    for d in _recent(days):
        for number, deviation in enumerate(d.cell_deviation_mv or [], start=1):
            if deviation is not None:
                sums.setdefault(number, []).append(deviation)
    means = {number: statistics.fmean(values) for number, values in sums.items()}
    return dict(sorted(means.items(), key=lambda item: -abs(item[1])))


def deviation(days):
    """Persistent cell deviation under load: the cell furthest from its pack's median, and its trend."""
    ranked = cell_deviations(days)
    if not ranked:
        return indicator("deviation", "Cell deviation", Light.GREY, None, "no time under load recorded")
    cell, mv = next(iter(ranked.items()))
    slope = slope_per_week(
        (d.day, abs(d.cell_deviation_mv[cell - 1]))
        for d in days
        if d.cell_deviation_mv and d.cell_deviation_mv[cell - 1] is not None
    )
    side = "below" if mv < 0 else "above"
    reason = f"cell {cell} sits {abs(mv):.0f} mV {side} the pack median under load{_trend_text(slope, 'mV')}"
    result = indicator(
        "deviation", "Cell deviation", _light(abs(mv), DEVIATION_MV), round(abs(mv), 1), reason
    )
    result["ranking"] = [[number, round(value, 1)] for number, value in list(ranked.items())[:3]]
    return result


def recent_resistance(days):
    """The median of the recent daily medians (mOhm), or None without current steps."""
    values = [d.resistance_mohm for d in _recent(days) if d.resistance_mohm is not None]
    return statistics.median(values) if values else None


def resistance(days, *, fleet_median):
    level = recent_resistance(days)
    if level is None:
        return indicator("resistance", "Internal resistance", Light.GREY, None, "no current steps recorded")
    slope = slope_per_week((d.day, d.resistance_mohm) for d in days)
    trend = _trend_text(slope, "mOhm")
    if not fleet_median:
        reason = f"{level:.1f} mOhm{trend}; no fleet figure to compare with"
        return indicator("resistance", "Internal resistance", Light.GREY, round(level, 2), reason)
    ratio = level / fleet_median
    reason = f"{level:.1f} mOhm, {ratio:.1f} x the fleet's median of {fleet_median:.1f}{trend}"
    light = _light(ratio, RESISTANCE_TO_FLEET)
    return indicator("resistance", "Internal resistance", light, round(level, 2), reason)


def temperature(days, *, fets):
    key, label = ("fet_temperature", "FET temperature") if fets else ("temperature", "Pack temperature")
    recent = _recent(days)
    maxima = [d.fet_temp_max if fets else d.temp_max for d in recent]
    maxima = [value for value in maxima if value is not None]
    if not maxima:
        return indicator(key, label, Light.GREY, None, "no temperatures recorded")
    hours = sum(d.fet_hot_hours if fets else d.hot_hours for d in recent)
    hottest = max(maxima)
    light = worst(_light(hours, HOT_HOURS), _light(hottest, MAX_CELSIUS))
    span = f"{len(recent)} days" if len(recent) > 1 else "day"
    reason = (
        f"{hours:.1f} h above {HOT_CELSIUS:.0f} °C in its last {span} with data, at most {hottest:.1f} °C"
    )
    return indicator(key, label, light, round(hours, 2), reason)


def time_in_alarm(*, hours, days):
    reason = f"{hours:.1f} h in alarm in the last {days} days"
    return indicator("alarm", "Time in alarm", _light(hours, ALARM_HOURS), round(hours, 2), reason)
