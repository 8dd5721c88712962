import sys

import msgspec
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from telemetry import services
from telemetry.models import IngestBatch
from telemetry.progress import Progress, counted
from telemetry.rollups import minute_ranges, rollups_refresh_ranges


class Command(BaseCommand):
    help = (
        "Ingest gateway payloads from FILE (or - for stdin) through the same pipeline as the HTTP endpoint, "
        "synchronously: one envelope per file, or one envelope per line (JSON lines)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the file, or - for standard input.")

    def handle(self, *args, file, **options):
        try:
            data = sys.stdin.buffer.read() if file == "-" else open(file, "rb").read()  # noqa: SIM115
        except OSError as error:
            raise CommandError(f"{file}: {error.strerror}") from None
        payloads = self._payloads(data)
        totals = services.IngestResult()
        failed = 0
        with Progress(total=len(payloads), unit="payloads", label="Ingest") as progress:
            for number, raw in enumerate(payloads, start=1):
                # Landed as the endpoint lands a POST, and processed here, without a worker. In one
                # transaction, so the message landing sends goes out once the batch is done: a worker that
                # gets it skips it.
                with transaction.atomic():
                    batch_id = services.batch_receive(raw=raw, source=IngestBatch.Source.FILE)
                    processed = services.batch_process(batch_id=batch_id)
                progress.update(1)
                if not processed:
                    failed += 1
                    error = IngestBatch.objects.values_list("error", flat=True).get(id=batch_id)
                    self.stderr.write(f"payload {number} (batch {batch_id}): {error}")
                    continue
                totals.add(processed[0].result)
        self.stdout.write(
            f"{counted(len(payloads), 'payload')}: {counted(totals.stored, 'reading')} stored, "
            f"{counted(totals.duplicate, 'duplicate')}, {totals.quarantined} quarantined, {failed} rejected."
        )
        if totals.stored:
            # A backfill is older than beat's refresh reaches: its rollups are brought up to date here.
            rollups_refresh_ranges(ranges=minute_ranges(times=totals.times))
            self.stdout.write(
                f"Rollups refreshed from {totals.first:%Y-%m-%d %H:%M} to {totals.last:%Y-%m-%d %H:%M}."
            )
        if failed:
            raise CommandError(f"{counted(failed, 'payload')} rejected; see the messages above.")

    @staticmethod
    def _payloads(data):
        """A file holding one envelope (possibly spread over many lines), or one envelope per line."""
        stripped = data.strip()
        if not stripped:
            raise CommandError("The input is empty.")
        lines = [line for line in stripped.splitlines() if line.strip()]
        try:
            msgspec.json.decode(lines[0])
        except msgspec.DecodeError:
            return [stripped]  # the first line is not a whole JSON document: one envelope over many lines
        return lines
