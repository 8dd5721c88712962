"""What an ingest reports for each payload: readings stored, readings already stored (re-sent), and the
records rejected with the reason, naming their place."""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Rejection:
    kind: str
    device_id: str
    dataset_index: int
    record_index: int
    record: str
    reason: str


@dataclass
class IngestResult:
    stored: int = 0
    duplicate: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    times: set[datetime] = field(default_factory=set)  # of the valid records
    late_minutes: set[datetime] = field(default_factory=set)  # noted as due for the late rollups' refresh

    @property
    def quarantined(self):
        return len(self.rejections)

    @property
    def first(self):
        return min(self.times, default=None)

    @property
    def last(self):
        return max(self.times, default=None)

    def add(self, other):
        self.stored += other.stored
        self.duplicate += other.duplicate
        self.rejections += other.rejections
        self.times |= other.times
        self.late_minutes |= other.late_minutes


def rejection(dataset, dataset_index, record_index, raw, reason):
    """The Rejection of the record ``raw`` of ``dataset``, storable as a QuarantinedRecord."""
    return Rejection(
        kind=dataset.kind,
        device_id=storable(dataset.device_id),
        dataset_index=dataset_index,
        record_index=record_index,
        record=storable(bytes(raw).decode("utf-8", "replace")),
        reason=storable(reason),
    )


def storable(text):
    """``text`` as PostgreSQL can store it: no NUL character, no lone surrogate (both shown escaped)."""
    return text.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")
