from django.core.management.base import BaseCommand
from django.utils.translation import ngettext

from telemetry import services
from telemetry.models import DatasetKind, QuarantinedRecord
from telemetry.progress import Progress

# The most frequent reasons listed for the records still quarantined.
REASONS_SHOWN = 10


class Command(BaseCommand):
    help = "Run unresolved quarantined records through ingest again, e.g. after the master data was fixed."

    def add_arguments(self, parser):
        parser.add_argument("--kind", choices=DatasetKind.values, help="Only records of this dataset kind.")
        parser.add_argument("--device", help="Only records of this PMS, MPPT or inverter id.")
        parser.add_argument("--batch", help="Only records of this ingest batch (uuid).")

    def handle(self, *args, kind=None, device=None, batch=None, **options):
        records = QuarantinedRecord.objects.filter(resolved=False).select_related("batch").order_by("id")
        if kind:
            records = records.filter(kind=kind)
        if device:
            records = records.filter(device_id=device)
        if batch:
            records = records.filter(batch_id=batch)
        records = list(records)
        with Progress(total=len(records), unit="records", label="Replay") as progress:
            outcome = services.quarantine_replay(records=records, progress=progress.update)
        if outcome.reasons:
            self.stdout.write("Still quarantined, by reason:")
            for reason, count in outcome.reasons.most_common(REASONS_SHOWN):
                self.stdout.write(f"  {count}: {reason}")
            if len(outcome.reasons) > REASONS_SHOWN:
                others = len(outcome.reasons) - REASONS_SHOWN
                reasons = ngettext("%d other reason", "%d other reasons", others) % others
                self.stdout.write(f"  ... and {reasons} (see the admin)")
        stored = ngettext(
            "%d record stored or already present", "%d records stored or already present", outcome.resolved
        )
        self.stdout.write(f"{stored % outcome.resolved}; {outcome.still_quarantined} still quarantined.")
