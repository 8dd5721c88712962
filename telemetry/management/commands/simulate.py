import logging
import os
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta

import msgspec
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from assets.models import Site
from telemetry.faults import Fault, FaultPlan, Gap
from telemetry.models import GatewayToken
from telemetry.progress import Progress, counted
from telemetry.rollups import refresh_all_rollups
from telemetry.selectors import pack_reading_gaps
from telemetry.services import gateway_token_create, hash_token, ingest_payload
from telemetry.simulation import SAMPLE_SECONDS, Simulator, default_swap_at, sample_times, site_layouts

logger = logging.getLogger("telemetry.simulate")

# Backfill payloads hold this many samples of one site (an hour at 5 s): large enough for COPY to shine.
SAMPLES_PER_PAYLOAD = 720
TOKEN_NAME = "simulator"
# A site without readings for longer than this (the backfill's coarse step is a minute) has a gap to fill.
GAP = timedelta(minutes=5)


class Command(BaseCommand):
    help = (
        "Simulate the gateways of the sites in the database: --backfill-days N writes N days of readings "
        "through the ingest pipeline; --live posts a sample per site every 5 s to the ingest endpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--backfill-days",
            type=float,
            help="Fill the last N days where a site has no readings: before the oldest stored one, after the "
            "newest, and gaps of more than 5 minutes between.",
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
        parser.add_argument(
            "--fault",
            action="append",
            dest="faults",
            metavar="KIND:PACK_ID",
            help="Inject a fault into a pack from the backfill's start (repeatable; replaces the demo's weak "
            f"cell). KIND: {', '.join(Fault)}.",
        )
        parser.add_argument(
            "--gap",
            action="append",
            dest="gaps",
            metavar="PMS_ID,START,END",
            help="A data gap: the site sends nothing from START to END (ISO 8601: 2026-11-20T10:00+07:00).",
        )
        parser.add_argument("--truth-file", help="Write the faults and gaps injected to this JSON file.")

    def handle(
        self, *args, backfill_days, fine_hours, live, url, pms_ids, faults, gaps, truth_file, **options
    ):
        if backfill_days is None and not live:
            raise CommandError("Say what to do: --backfill-days N, --live, or both (backfill first).")
        if backfill_days is not None and backfill_days <= 0:
            raise CommandError(f"--backfill-days must be more than 0, got {backfill_days:g}.")
        now = timezone.now()
        layouts = site_layouts(now, pms_ids)
        if not layouts:
            raise CommandError("No site with installed cases to simulate; run `manage.py demo_data` first.")
        plan = None
        if faults or gaps or truth_file:
            plan = fault_plan(start=now - timedelta(days=backfill_days or 0), faults=faults, gaps=gaps)
            if truth_file:
                plan.write_truth(truth_file)
        simulator = Simulator(layouts, swap_at=default_swap_at(now), faults=plan)
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
            times = [
                at
                for first, last in pack_reading_gaps(site=site, start=start, end=end, gap=GAP)
                for at in sample_times(first, min(fine_start, last), 60)
                + sample_times(max(first, fine_start), last)
            ]
            plans.append((layout, site, times))
        total = sum(len(times) * len(layout.packs) for layout, _, times in plans)
        if not total:
            self.stdout.write(
                f"Backfill: every site already has readings from {start:%Y-%m-%d %H:%M} UTC on."
            )
            return
        stored = duplicates = quarantined = 0
        with Progress(total=total, unit="pack readings", label="Backfill") as progress:
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
        self.stderr.write(f"Backfill: refreshing the rollups from {rollup_start:%Y-%m-%d %H:%M} UTC...")
        refresh_all_rollups(start=rollup_start, end=end)
        self.stdout.write(
            f"Backfill: {counted(stored, 'reading')} stored, {counted(duplicates, 'duplicate')}, "
            f"{quarantined} quarantined; rollups refreshed from {rollup_start:%Y-%m-%d %H:%M} UTC."
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


def fault_plan(*, start, faults, gaps):
    """A FaultPlan from the --fault and --gap options, or a CommandError naming the bad one."""
    plan = FaultPlan(start=start)
    for option in faults or []:
        kind, _, pack_id = option.partition(":")
        if kind not in set(Fault) or not pack_id:
            raise CommandError(
                f"--fault {option!r}: expected KIND:PACK_ID with KIND one of {', '.join(Fault)}."
            )
        plan.faults[pack_id] = Fault(kind)
    for option in gaps or []:
        try:
            pms_id, start_text, end_text = option.split(",")
            plan.gaps.append(
                Gap(pms_id, datetime.fromisoformat(start_text), datetime.fromisoformat(end_text))
            )
        except ValueError:
            raise CommandError(f"--gap {option!r}: expected PMS_ID,START,END with ISO 8601 times.") from None
    return plan
