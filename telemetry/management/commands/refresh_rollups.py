import argparse
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from telemetry.rollups import refresh_all_rollups


def aware_datetime(value):
    parsed = parse_datetime(value)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date and time, e.g. 2026-11-01T00:00+07:00")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


class Command(BaseCommand):
    help = "Re-compute the 1-minute and 1-hour rollups over a time range, e.g. after a backfill."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=float, default=1.0, help="The last N days (default 1).")
        parser.add_argument("--start", type=aware_datetime, help="Start of the range (instead of --days).")
        parser.add_argument("--end", type=aware_datetime, help="End of the range (default now).")

    def handle(self, *args, days, start, end, **options):
        end = end or timezone.now()
        start = start or end - timedelta(days=days)
        if start >= end:
            raise CommandError(
                f"--start ({start:%Y-%m-%d %H:%M}) must be before --end ({end:%Y-%m-%d %H:%M})."
            )
        written = refresh_all_rollups(start=start, end=end)
        self.stdout.write(
            f"{written} rollup rows written for {start.isoformat(timespec='minutes')} to "
            f"{end.isoformat(timespec='minutes')}."
        )
