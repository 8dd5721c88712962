import logging
import os
import time
import urllib.error
import urllib.request
from datetime import timedelta

import msgspec
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max, Q
from django.utils import timezone
from tqdm import tqdm

from assets.models import Site
from telemetry.models import GatewayToken, PackReading
from telemetry.rollups import refresh_all_rollups
from telemetry.services import gateway_token_create, hash_token, ingest_payload
from telemetry.simulation import SAMPLE_SECONDS, Simulator, default_swap_at, sample_times, site_layouts

logger = logging.getLogger("telemetry.simulate")

# Backfill payloads hold this many samples of one site (an hour at 5 s): large enough for COPY to shine.
SAMPLES_PER_PAYLOAD = 720
TOKEN_NAME = "simulator"


class Command(BaseCommand):
    help = (
        "Simulate the gateways of the sites in the database: --backfill-days N writes N days of readings "
        "through the ingest pipeline; --live posts a sample per site every 5 s to the ingest endpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--backfill-days", type=float, help="Fill the last N days (skips what is stored)."
        )
        parser.add_argument(
            "--fine-hours",
            type=float,
            default=2.0,
            help="The last N hours of a backfill are sampled every 5 s, older ones every minute (default 2).",
        )
        parser.add_argument("--live", action="store_true", help="Post a sample per site every 5 s, forever.")
        parser.add_argument(
            "--url",
            default=f"http://{os.environ.get('PMS_HOST', '127.0.0.1')}:{os.environ.get('PMS_PORT', '8000')}"
            "/api/v1/ingest/",
            help="The ingest endpoint for --live (default: PMS_HOST and PMS_PORT, as `make run` serves).",
        )
        parser.add_argument("--site", action="append", dest="pms_ids", help="Only this PMS id (repeatable).")

    def handle(self, *args, backfill_days, fine_hours, live, url, pms_ids, **options):
        if backfill_days is None and not live:
            raise CommandError("Say what to do: --backfill-days N, --live, or both (backfill first).")
        if backfill_days is not None and backfill_days <= 0:
            raise CommandError(f"--backfill-days must be more than 0, got {backfill_days:g}.")
        now = timezone.now()
        layouts = site_layouts(now, pms_ids)
        if not layouts:
            raise CommandError("No site with installed cases to simulate; run `manage.py demo_data` first.")
        simulator = Simulator(layouts, swap_at=default_swap_at(now))
        if backfill_days is not None:
            self.backfill(simulator, end=now, days=backfill_days, fine_hours=fine_hours)
        if live:
            self.live(simulator, url)

    def backfill(self, simulator, *, end, days, fine_hours):
        start = end - timedelta(days=days)
        fine_start = max(start, end - timedelta(hours=fine_hours))
        plans = []
        for layout in simulator.layouts:
            site = Site.objects.get(pms_id=layout.pms_id)
            stored_until = PackReading.objects.filter(site=site, time__gte=start).aggregate(Max("time"))[
                "time__max"
            ]
            site_start = stored_until + timedelta(seconds=1) if stored_until else start
            times = sample_times(site_start, min(fine_start, end), 60) + sample_times(
                max(site_start, fine_start), end
            )
            plans.append((layout, site, times))
        total = sum(len(times) * len(layout.packs) for layout, _, times in plans)
        if not total:
            self.stdout.write("Backfill: every site already has readings up to now.")
            return
        stored = duplicates = quarantined = 0
        with tqdm(total=total, unit="packs", desc="Backfill", disable=None) as progress:
            for layout, site, times in plans:
                for first in range(0, len(times), SAMPLES_PER_PAYLOAD):
                    chunk = times[first : first + SAMPLES_PER_PAYLOAD]
                    result = ingest_payload(
                        raw=msgspec.json.encode(simulator.payload(layout, chunk)), site=site
                    )
                    stored += result.stored
                    duplicates += result.duplicate
                    quarantined += result.quarantined
                    progress.update(len(chunk) * len(layout.packs))
        rollup_start = min(times[0] for _, _, times in plans if times)
        refresh_all_rollups(start=rollup_start, end=end)
        self.stdout.write(
            f"Backfill: {stored} readings stored, {duplicates} duplicates, {quarantined} quarantined; "
            f"rollups refreshed from {rollup_start:%Y-%m-%d %H:%M} UTC."
        )

    def live(self, simulator, url):
        gateways = [Gateway(layout, url) for layout in simulator.layouts]
        self.stdout.write(f"Live: posting a sample per site every {SAMPLE_SECONDS} s to {url}")
        while True:
            now = timezone.now()
            for gateway in gateways:
                gateway.send_sample(simulator, now)
            time.sleep(SAMPLE_SECONDS - time.time() % SAMPLE_SECONDS)


class Gateway:
    """Posts one site's payloads with its token; says once when the server goes away and comes back."""

    def __init__(self, layout, url):
        self.layout, self.pms_id, self.url = layout, layout.pms_id, url
        self.headers = {
            "Authorization": f"Token {gateway_token(self.pms_id)}",
            "Content-Type": "application/json",
        }
        self.reachable = None

    def send_sample(self, simulator, now):
        """Post the site's readings at the last sample instant before ``now``."""
        latest = sample_times(now - timedelta(seconds=SAMPLE_SECONDS), now)
        self.post(msgspec.json.encode(simulator.payload(self.layout, latest)))

    def post(self, body):
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except urllib.error.HTTPError as error:
            detail = error.read(500).decode(errors="replace")
            logger.error("%s: the server refused a sample with %s: %s", self.pms_id, error.code, detail)
        except OSError as error:
            if self.reachable is not False:
                logger.warning(
                    "%s: the ingest server at %s is not reachable (%s); still trying every %s s",
                    self.pms_id, self.url, error, SAMPLE_SECONDS,
                )  # fmt: skip
            self.reachable = False
            return
        if not self.reachable:
            logger.info("%s: posting to %s", self.pms_id, self.url)
        self.reachable = True


def gateway_token(pms_id):
    """The simulator's raw token for the site's gateway, from var/secrets/; created on first use."""
    path = settings.SECRETS_DIR / f"gateway_token_{pms_id}"
    if path.exists():
        raw = path.read_text().strip()
        unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        if GatewayToken.objects.filter(unexpired, key_hash=hash_token(raw), revoked_at__isnull=True).exists():
            return raw
    site = Site.objects.get(pms_id=pms_id)
    name = TOKEN_NAME
    if GatewayToken.objects.filter(site=site, name=name).exists():
        name = f"{TOKEN_NAME} {timezone.now():%Y-%m-%d %H:%M:%S}"
    _, raw = gateway_token_create(site=site, name=name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(raw)
    path.chmod(0o600)
    return raw
