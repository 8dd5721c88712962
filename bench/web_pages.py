"""The pages with a month of data: the site page and a 30-day chart's data, for a 48-pack site holding
30 days of 5-second readings (about 25 M pack rows) and their rollups. The case's per-cell chart data is
also timed on its own: the selector, without the request around it.

The readings are generated in the database (generate_series), day by day, rather than sent through the
pipeline: this benchmark measures the pages, and `bench pipeline` the ingest.
"""

import statistics
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bench import Figure
from bench.fixtures import bench_site
from telemetry.models import PackReading, PackState
from telemetry.rollups import refresh_all_rollups
from telemetry.series import cell_series, series_resolution
from web.selectors import site_layout

PACKS = 48
REPEATS = 15
# The figures vary with time only, so each sample time is computed once and shared by the 48 packs.
READINGS_SQL = f"""
    INSERT INTO {PackReading._meta.db_table}
        (case_id, time, site_id, utc_offset_minutes, dock, volts, amps, temps, cell_volts, open_cells,
         fet_open, fet_temps, batch_id)
    SELECT packs.case_id, samples.t, %(site_id)s, 420, packs.dock, samples.volts, samples.amps,
           samples.temps, samples.cells, '{{}}', '{{}}', samples.fet_temps, NULL
    FROM (
        SELECT t, (52 + 3 * sin(phase))::real AS volts, (10 * cos(phase))::real AS amps,
               ARRAY[30 + 3 * sin(phase), 31 + 3 * sin(phase), 32 + 3 * sin(phase)]::real[] AS temps,
               array_fill((3.7 + 0.2 * sin(phase))::real, ARRAY[14]) AS cells,
               ARRAY[33, 34]::real[] AS fet_temps
        FROM generate_series(%(start)s, %(end)s - interval '5 seconds', interval '5 seconds') AS t,
             LATERAL (SELECT extract(epoch FROM t) / 3600 AS phase) AS p
    ) AS samples
    CROSS JOIN unnest(%(case_ids)s::bigint[], %(docks)s::smallint[]) AS packs(case_id, dock)
"""


def _fill(site, *, start, end):
    docks = [dock for cabinet in site_layout(site) for dock in cabinet.docks]
    case_ids = [dock.case.pk for dock in docks]
    pms_docks = [dock.pms_dock for dock in docks]
    day = start
    while day < end:
        day_end = min(day + timedelta(days=1), end)
        with connection.cursor() as cursor:
            cursor.execute(
                READINGS_SQL,
                {"site_id": site.pk, "start": day, "end": day_end, "case_ids": case_ids, "docks": pms_docks},
            )
        print(f"  readings up to {day_end:%Y-%m-%d %H:%M}", flush=True)
        day = day_end
    latest = PackReading.objects.filter(site=site, time=end - timedelta(seconds=5))
    PackState.objects.bulk_create(
        PackState(
            case_id=reading.case_id,
            site=site,
            time=reading.time,
            utc_offset_minutes=420,
            updated_at=end,
            dock=reading.dock,
            volts=reading.volts,
            amps=reading.amps,
            temps=reading.temps,
            cell_volts=reading.cell_volts,
            open_cells=[],
            fet_open=[],
            fet_temps=reading.fet_temps,
        )
        for reading in latest
    )
    print("  computing rollups", flush=True)
    refresh_all_rollups(start=start, end=end)
    return len(case_ids)


def _median_ms(call):
    """The median time of ``call()`` over REPEATS runs, after two to warm up."""
    for _ in range(2):
        call()
    timings = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        call()
        timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings)


def _get_ms(client, url, params=None):
    """The median time of a GET of ``url``, which must answer 200."""

    def get():
        response = client.get(url, params)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")

    return _median_ms(get)


def run(options):
    end = timezone.now().replace(second=0, microsecond=0)
    start = end - timedelta(days=options.web_days)
    site = bench_site(pms_id="PMS-BENCH-WEB", cabinets=PACKS // 12, at=start - timedelta(days=1))
    packs = _fill(site, start=start, end=end)
    rows = PackReading.objects.filter(site=site).count()

    user = get_user_model().objects.create_superuser("bench-web", password=None)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    site_url = reverse("web:site", args=[site.pk])
    series_url = reverse("web:site-series", args=[site.pk])
    case = PackState.objects.filter(site=site).first().case
    case_series_url = reverse("web:case-series", args=[case.serial])
    month = series_resolution(start=end - timedelta(days=30), end=end)
    return [
        Figure("packs", packs, "packs"),
        Figure("pack rows in the database", rows, "rows"),
        Figure("site page (HTML, median)", _get_ms(client, site_url), "ms", "< 200"),
        Figure(
            "site live fragment (median)", _get_ms(client, reverse("web:site-live", args=[site.pk])), "ms"
        ),
        *(
            Figure(
                f"site chart data, {span} (median)",
                _get_ms(client, series_url, {"range": span}),
                "ms",
                "< 100",
            )
            for span in ("30d", "7d", "24h", "1h")
        ),
        Figure("case chart data, 30 d (median)", _get_ms(client, case_series_url, {"range": "30d"}), "ms"),
        Figure(
            "case per-cell chart data, 30 d (median)",
            _median_ms(lambda: cell_series(resolution=month, case=case)),
            "ms",
        ),
    ]
