"""Replaying quarantined records, once the master data that made them fail is fixed."""

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec
from django.db import transaction
from django.utils import timezone

from telemetry.ingest.core import ingest_payload
from telemetry.models import QuarantinedRecord

# The place a reason starts with ("datasets[0].data[5]." or "datasets[0]."), which differs record by record.
_PLACE = re.compile(r"^datasets\[\d+\](?:\.data\[\d+\])?\.")


@dataclass
class ReplayResult:
    resolved: int = 0
    still_quarantined: int = 0
    reasons: Counter = field(default_factory=Counter)
    """Why the records still quarantined are: {reason without the record's place: count}."""


def quarantine_replay(
    *, records: Iterable[QuarantinedRecord], progress: Callable[[int], None] | None = None
) -> ReplayResult:
    """Run quarantined records through ingest again; those that now store (or are duplicates) are resolved,
    the others keep their place with the new reason. ``progress`` is told how many records each step did."""
    outcome = ReplayResult()
    now = timezone.now()
    groups = {}
    for record in records:
        groups.setdefault((record.kind, record.device_id, record.batch_id), []).append(record)
    for (kind, device_id, _), group in groups.items():
        site = group[0].batch.site if group[0].batch_id else None
        records = [msgspec.Raw(record.record.encode()) for record in group]
        raw = msgspec.json.encode({"datasets": [{kind: {"id": device_id}, "data": records}]})
        with transaction.atomic():
            result = ingest_payload(raw=raw, site=site, quarantine=False)
            failures = {rejection.record_index: rejection.reason for rejection in result.rejections}
            for index, record in enumerate(group):
                record.replayed_at = now
                record.resolved = index not in failures
                if index in failures:
                    record.reason = _at_original_place(failures[index], index, record)
            QuarantinedRecord.objects.bulk_update(group, ["replayed_at", "resolved", "reason"])
        outcome.resolved += len(group) - len(failures)
        outcome.still_quarantined += len(failures)
        outcome.reasons.update(_PLACE.sub("", reason) for reason in failures.values())
        if progress is not None:
            progress(len(group))
    return outcome


def _at_original_place(reason, replay_index, record):
    """A replay's reason names the record's place in the replayed payload; name its original place."""
    for replayed, original in (
        (
            f"datasets[0].data[{replay_index}]",
            f"datasets[{record.dataset_index}].data[{record.record_index}]",
        ),
        ("datasets[0].", f"datasets[{record.dataset_index}]."),
    ):
        if reason.startswith(replayed):
            return original + reason[len(replayed) :]
    return reason
