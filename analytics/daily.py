"""Site-local days summed from the hour rows: a case's daily figures (for its health and its life charts)
and a site's daily energy (for the site and fleet pages)."""

from collections import defaultdict

from django.db import connections, router

from analytics.indicators import Day
from analytics.models import CaseHour
from assets.constants import CELL_NUMBERS

_DEVIATIONS = ", ".join(
    f"sum(cell_deviation_mv[{n}] * load_minutes) "
    f"/ nullif(sum(load_minutes) FILTER (WHERE cell_deviation_mv[{n}] IS NOT NULL), 0)"
    for n in CELL_NUMBERS
)
# Only the last ``window`` days of each case (before its latest day with data), or its whole life.
_CASE_HOURS = """
    WITH latest AS (
        SELECT case_id, max(day) AS day FROM analytics_casehour
        WHERE case_id = ANY(%(case_ids)s) GROUP BY case_id
    )
    SELECT h.* FROM analytics_casehour h JOIN latest USING (case_id)
    WHERE %(window)s::int IS NULL OR h.day > latest.day - %(window)s::int
"""
CASE_DAYS_SQL = f"""
WITH h AS ({_CASE_HOURS}), resistance AS (
    SELECT case_id, day, percentile_cont(0.5) WITHIN GROUP (ORDER BY estimate) AS median
    FROM h, unnest(resistance_mohm) AS estimate GROUP BY case_id, day
)
SELECT case_id, day, sum(minutes), sum(charged_ah), sum(discharged_ah),
    sum(rest_imbalance_mv * rest_minutes)
        / nullif(sum(rest_minutes) FILTER (WHERE rest_imbalance_mv IS NOT NULL), 0),
    ARRAY[{_DEVIATIONS}],
    sum(hot_minutes) / 60.0, max(temp_max), sum(fet_hot_minutes) / 60.0, max(fet_temp_max),
    min(resistance.median)
FROM h LEFT JOIN resistance USING (case_id, day)
GROUP BY case_id, day ORDER BY case_id, day
"""


def _read_cursor():
    """A cursor on the database the pages read: a replica when pms_site/db_routers.py sends reads there,
    the primary in tasks and transactions."""
    return connections[router.db_for_read(CaseHour)].cursor()


def case_days(*, case_ids, window=None):
    """{case id: [Day, ...] oldest first}: each case's days with data, the last ``window`` of them or all."""
    params = {"case_ids": list(case_ids), "window": window}
    result = defaultdict(list)
    with _read_cursor() as cursor:
        cursor.execute(CASE_DAYS_SQL, params)
        for case_id, day, minutes, charged, discharged, imbalance, deviations, *rest in cursor.fetchall():
            hot, temp_max, fet_hot, fet_max, resistance = rest
            result[case_id].append(
                Day(
                    day=day,
                    minutes=minutes,
                    charged_ah=charged,
                    discharged_ah=discharged,
                    rest_imbalance_mv=imbalance,
                    cell_deviation_mv=deviations if any(v is not None for v in deviations) else [],
                    resistance_mohm=resistance,
                    hot_hours=float(hot),
                    temp_max=temp_max,
                    fet_hot_hours=float(fet_hot),
                    fet_temp_max=fet_max,
                )
            )
    return dict(result)


# A site's coverage in an hour is the most minutes any of its packs or devices reported in it: a gateway
# that stops sends nothing for all of them.
SITE_DAYS_SQL = """
WITH hours AS (
    SELECT site_id, day, hour, max(minutes) AS minutes, sum(charged_wh) AS charged_wh,
        sum(discharged_wh) AS discharged_wh, 0.0 AS mppt_pv_wh, 0.0 AS inverter_pv_wh, 0.0 AS load_wh
    FROM analytics_casehour WHERE site_id = ANY(%(site_ids)s) AND day >= %(first)s AND day <= %(last)s
    GROUP BY site_id, day, hour
    UNION ALL
    SELECT site_id, day, hour, max(minutes), 0, 0,
        coalesce(sum((SELECT sum(v) FROM unnest(pv_wh) v)) FILTER (WHERE kind = 'mppt'), 0),
        coalesce(sum((SELECT sum(v) FROM unnest(pv_wh) v)) FILTER (WHERE kind = 'inverter'), 0),
        sum(load_wh)
    FROM analytics_devicehour WHERE site_id = ANY(%(site_ids)s) AND day >= %(first)s AND day <= %(last)s
    GROUP BY site_id, day, hour
), per_hour AS (
    SELECT site_id, day, hour, max(minutes) AS minutes, sum(charged_wh) AS charged_wh,
        sum(discharged_wh) AS discharged_wh, sum(mppt_pv_wh) AS mppt_pv_wh,
        sum(inverter_pv_wh) AS inverter_pv_wh, sum(load_wh) AS load_wh
    FROM hours GROUP BY site_id, day, hour
)
SELECT site_id, day, sum(minutes), sum(mppt_pv_wh) / 1000, sum(inverter_pv_wh) / 1000,
    sum(charged_wh) / 1000, sum(discharged_wh) / 1000, sum(load_wh) / 1000
FROM per_hour GROUP BY site_id, day ORDER BY site_id, day
"""
ENERGY_FIELDS = ("minutes", "mppt_pv_kwh", "inverter_pv_kwh", "charged_kwh", "discharged_kwh", "load_kwh")


def site_days(*, site_ids, first, last):
    """{site id: {day: {minutes, mppt_pv_kwh, inverter_pv_kwh, charged_kwh, discharged_kwh, load_kwh}}} for
    the site-local days first..last that have data."""
    result = defaultdict(dict)
    with _read_cursor() as cursor:
        cursor.execute(SITE_DAYS_SQL, {"site_ids": list(site_ids), "first": first, "last": last})
        for site_id, day, *figures in cursor.fetchall():
            result[site_id][day] = dict(
                zip(ENERGY_FIELDS, (int(figures[0]), *map(float, figures[1:])), strict=True)
            )
    return dict(result)


DEVICE_YIELD_SQL = """
SELECT device_id, kind, input, sum(wh) / 1000
FROM analytics_devicehour, unnest(pv_wh) WITH ORDINALITY AS inputs(wh, input)
WHERE site_id = %(site_id)s AND day >= %(first)s AND day <= %(last)s
GROUP BY device_id, kind, input ORDER BY device_id, input
"""


def device_yields(*, site_id, first, last):
    """[(device id, kind, PV input number, kWh)] of a site over the site-local days first..last."""
    with _read_cursor() as cursor:
        cursor.execute(DEVICE_YIELD_SQL, {"site_id": site_id, "first": first, "last": last})
        return [
            (device_id, kind, int(number), float(kwh)) for device_id, kind, number, kwh in cursor.fetchall()
        ]
