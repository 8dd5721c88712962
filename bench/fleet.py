"""The fleet page at 1,000 sites (`--fleet-sites`), each a 12-pack PMS with the latest state of every pack:
the first page (status order), a search by PMS id, and a page sorted by name further on."""

import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from assets.models import Site
from bench import Figure
from bench.fixtures import bench_sites
from bench.web_pages import _get_ms
from telemetry.models import PackState
from web.selectors import installed_cases, site_layouts

DOCKS = 12
PREFIX = "PMS-FLEET"


def _latest_states(sites, now):
    """A fresh latest state for every pack of ``sites``, in one insert."""
    layouts = site_layouts([site.pk for site in sites])
    PackState.objects.bulk_create(
        PackState(
            case_id=case_id,
            site=site,
            time=now - timedelta(seconds=5),
            utc_offset_minutes=420,
            updated_at=now,
            dock=dock,
            volts=52.5,
            amps=-3.0,
            temps=[30.0, 31.0, 32.0],
            cell_volts=[3.75 + dock / 1000] * 14,
            open_cells=[],
            fet_open=[],
            fet_temps=[33.0, 34.0],
        )
        for site in sites
        for dock, case_id in enumerate(installed_cases(layouts[site.pk]), start=1)
    )


def run(options):
    now = timezone.now()
    began = time.monotonic()
    sites = list(Site.objects.filter(pms_id__startswith=f"{PREFIX}-"))
    if (
        sites
    ):  # a database kept by --keep-database and named by PMS_BENCH_DATABASE_URL: its sites, fresh again
        PackState.objects.filter(site__in=sites).update(time=now - timedelta(seconds=5), updated_at=now)
        print(f"  {len(sites)} sites of a kept database (--fleet-sites ignored)", flush=True)
    else:
        sites = bench_sites(prefix=PREFIX, count=options.fleet_sites, docks=DOCKS, at=now - timedelta(days=1))
        _latest_states(sites, now)
        print(f"  {len(sites)} sites built in {time.monotonic() - began:.0f} s", flush=True)

    users = get_user_model().objects
    user = users.filter(username="bench-fleet").first() or users.create_superuser(
        "bench-fleet", password=None
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    url = reverse("web:fleet")
    return [
        Figure("sites", len(sites), "sites"),
        Figure("pack latest states", PackState.objects.count(), "packs"),
        Figure("fleet page 1, by status (median)", _get_ms(client, url), "ms", "< 300"),
        Figure(
            "fleet search by PMS id (median)",
            _get_ms(client, url, {"q": "PMS-FLEET-0512"}),
            "ms",
            "< 300",
        ),
        Figure(
            "fleet page 10, by name (median)",
            _get_ms(client, url, {"sort": "name", "page": 10}),
            "ms",
            "< 300",
        ),
    ]
