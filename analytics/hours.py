"""The hour rows of analytics/models.py, re-computed from the 1-minute rollups over a time range.

Each statement groups the 1-minute rollups by site-local hour (TimescaleDB's ``time_bucket`` in the site's
time zone) and upserts one row per entity and hour, so re-running it over the same range gives the same rows.
A minute with data counts as a whole minute: its energy is its average power over 60 s, and the minutes with
data are what the pages report as coverage, a gap is never filled in.
"""

from datetime import timedelta

from django.db import connection, transaction

from assets.constants import CELL_NUMBERS, PV_INPUTS

ONE_HOUR = timedelta(hours=1)
ONE_MINUTE = timedelta(minutes=1)
WINDOW = timedelta(days=1)
# A minute is "at rest" when the current stayed below this (A) throughout, "under load" when its average is
# above LOAD_AMPS, and two consecutive minutes make a current step when their averages differ by STEP_AMPS.
REST_AMPS = 0.5
LOAD_AMPS = 3.0
STEP_AMPS = 5.0
HOT_CELSIUS = 45.0
# A cell average below this is a cell flagged open (it reads about 0 V), not a cell's voltage.
OPEN_CELL_VOLTS = 1.0


def _cell(n):
    return f"CASE WHEN cell_volts_avg[{n}] > {OPEN_CELL_VOLTS} THEN cell_volts_avg[{n}] END"


_CELLS = ", ".join(_cell(n) for n in CELL_NUMBERS)
_LOADED_CELLS = ", ".join(f"avg({_cell(n)}) FILTER (WHERE loaded)" for n in CELL_NUMBERS)

# %(read_start)s is an hour and a minute before %(start)s: the hours of any time zone that overlap
# [start, end) begin after it, and the first minute of each has the minute before it for its current step.
# A cell's deviation under load is its average over the hour's loaded minutes against the median of those
# averages (one median per hour, not per minute).
CASE_HOURS_SQL = f"""
WITH minutes AS (
    SELECT r.case_id, r.site_id, r.bucket, r.cell_volts_avg, r.temp_max, r.fet_temp_max,
        r.charge_power_avg, r.discharge_power_avg, r.charge_amps_avg, r.discharge_amps_avg, s.time_zone,
        time_bucket('1 hour', r.bucket, s.time_zone) AS hour,
        GREATEST(abs(r.amps_min), abs(r.amps_max)) < {REST_AMPS} AS at_rest,
        abs(r.amps_avg) > {LOAD_AMPS} AS loaded,
        CASE WHEN lag(r.bucket) OVER w = r.bucket - INTERVAL '1 minute'
            AND abs(r.amps_avg - lag(r.amps_avg) OVER w) >= {STEP_AMPS}
            THEN 1000 * (r.volts_avg - lag(r.volts_avg) OVER w) / (r.amps_avg - lag(r.amps_avg) OVER w)
        END AS step_mohm
    FROM telemetry_packrollup1m r JOIN assets_site s ON s.id = r.site_id
    WHERE r.bucket >= %(read_start)s AND r.bucket < %(read_end)s
    WINDOW w AS (PARTITION BY r.case_id ORDER BY r.bucket)
), hours AS (
    SELECT case_id, hour, (hour AT TIME ZONE min(time_zone))::date AS day, last(site_id, bucket) AS site_id,
        count(*) AS minutes,
        coalesce(sum(charge_power_avg), 0) / 60 AS charged_wh,
        coalesce(sum(discharge_power_avg), 0) / 60 AS discharged_wh,
        coalesce(sum(charge_amps_avg), 0) / 60 AS charged_ah,
        coalesce(sum(discharge_amps_avg), 0) / 60 AS discharged_ah,
        count(*) FILTER (WHERE at_rest) AS rest_minutes,
        1000 * avg(GREATEST({_CELLS}) - LEAST({_CELLS})) FILTER (WHERE at_rest) AS rest_imbalance_mv,
        count(*) FILTER (WHERE loaded) AS load_minutes,
        ARRAY[{_LOADED_CELLS}] AS loaded_cells,
        coalesce(array_agg(step_mohm) FILTER (WHERE step_mohm IS NOT NULL), '{{}}') AS resistance_mohm,
        count(*) FILTER (WHERE temp_max > {HOT_CELSIUS}) AS hot_minutes, max(temp_max) AS temp_max,
        count(*) FILTER (WHERE fet_temp_max > {HOT_CELSIUS}) AS fet_hot_minutes,
        max(fet_temp_max) AS fet_temp_max
    FROM minutes
    WHERE hour > %(start)s - INTERVAL '1 hour' AND hour < %(end)s
    GROUP BY case_id, hour
)
INSERT INTO analytics_casehour (
    case_id, hour, day, site_id, minutes, charged_wh, discharged_wh, charged_ah, discharged_ah,
    rest_minutes, rest_imbalance_mv, load_minutes, cell_deviation_mv, resistance_mohm,
    hot_minutes, temp_max, fet_hot_minutes, fet_temp_max
)
SELECT case_id, hour, day, site_id, minutes, charged_wh, discharged_wh, charged_ah, discharged_ah,
    rest_minutes, rest_imbalance_mv, load_minutes,
    CASE WHEN load_minutes > 0 THEN (
        SELECT array_agg(1000 * (cell - median) ORDER BY number)
        FROM unnest(loaded_cells) WITH ORDINALITY AS cells(cell, number),
            (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM unnest(loaded_cells) v) AS m(median)
    ) END,
    resistance_mohm, hot_minutes, temp_max, fet_hot_minutes, fet_temp_max
FROM hours
ON CONFLICT (case_id, hour) DO UPDATE SET
    day = EXCLUDED.day, site_id = EXCLUDED.site_id, minutes = EXCLUDED.minutes,
    charged_wh = EXCLUDED.charged_wh, discharged_wh = EXCLUDED.discharged_wh,
    charged_ah = EXCLUDED.charged_ah, discharged_ah = EXCLUDED.discharged_ah,
    rest_minutes = EXCLUDED.rest_minutes, rest_imbalance_mv = EXCLUDED.rest_imbalance_mv,
    load_minutes = EXCLUDED.load_minutes, cell_deviation_mv = EXCLUDED.cell_deviation_mv,
    resistance_mohm = EXCLUDED.resistance_mohm, hot_minutes = EXCLUDED.hot_minutes,
    temp_max = EXCLUDED.temp_max, fet_hot_minutes = EXCLUDED.fet_hot_minutes,
    fet_temp_max = EXCLUDED.fet_temp_max
RETURNING case_id
"""

_PV_WH = ", ".join(f"coalesce(sum(pv{n}_power_avg), 0) / 60" for n in range(1, PV_INPUTS + 1))
DEVICE_HOURS_SQL = f"""
WITH minutes AS (
    SELECT r.*, s.time_zone, time_bucket('1 hour', r.bucket, s.time_zone) AS hour
    FROM telemetry_devicerollup1m r JOIN assets_site s ON s.id = r.site_id
    WHERE r.bucket >= %(read_start)s AND r.bucket < %(read_end)s
)
INSERT INTO analytics_devicehour (device_id, hour, day, kind, site_id, minutes, pv_wh, load_wh)
SELECT device_id, hour, (hour AT TIME ZONE min(time_zone))::date, min(kind), last(site_id, bucket), count(*),
    ARRAY[{_PV_WH}], coalesce(sum(load_power_avg), 0) / 60
FROM minutes
WHERE hour > %(start)s - INTERVAL '1 hour' AND hour < %(end)s
GROUP BY device_id, hour
ON CONFLICT (device_id, hour) DO UPDATE SET
    day = EXCLUDED.day, kind = EXCLUDED.kind, site_id = EXCLUDED.site_id, minutes = EXCLUDED.minutes,
    pv_wh = EXCLUDED.pv_wh, load_wh = EXCLUDED.load_wh
"""


def refresh_hours(*, start, end):
    """Re-compute the case and device hours (site-local) that overlap [start, end), a day at a time (one
    statement over weeks of minutes sorts on disk). Returns the ids of the cases whose hours were written."""
    case_ids = set()
    window_start = start
    while window_start < end:
        window_end = min(window_start + WINDOW, end)
        params = {
            "start": window_start,
            "end": window_end,
            "read_start": window_start - ONE_HOUR - ONE_MINUTE,
            "read_end": window_end + ONE_HOUR,
        }
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(CASE_HOURS_SQL, params)
            case_ids.update(row[0] for row in cursor.fetchall())
            cursor.execute(DEVICE_HOURS_SQL, params)
        window_start = window_end
    return case_ids
