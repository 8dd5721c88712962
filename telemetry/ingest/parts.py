"""The payloads of an ingest ("parts"), decoded record by record: the records that pass validation, grouped
per dataset and kind, and the rejection of each one that does not.

PMS records are only grouped here: lines.pack_chunks decodes them while the COPY sends their rows, so that
PostgreSQL parses one chunk while Python decodes the next."""

from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from typing import NamedTuple

from telemetry.ingest import decode
from telemetry.ingest.resolve import sites_by_pms_id
from telemetry.ingest.results import rejection
from telemetry.ingest.times import TimeParser
from telemetry.models import DatasetKind


def decode_parts(parts):
    """Decode and validate every record of ``parts``; the PMS datasets' sites are looked up at once."""
    parse_time = TimeParser()
    decoded = Decoded(len(parts), parse_time)
    pms_ids = {
        dataset.pms.id for part in parts for _, dataset, _ in part.datasets() if dataset.pms is not None
    }
    pms_sites = sites_by_pms_id(pms_ids)
    for part in parts:
        _decode_part(decoded, part, pms_sites, parse_time)
    return decoded


class RecordPlace(NamedTuple):
    dataset_index: int
    record_index: int


@dataclass(frozen=True)
class Part:
    """One payload of an ingest: its envelope, the sending gateway's site (or None) and its landing row's id
    (or None). ``index`` is its place in the ingest; ``only``, RecordPlaces in order, restricts it to those
    records."""

    index: int
    envelope: decode.Envelope
    site: object
    batch_id: object
    only: tuple[RecordPlace, ...] | None = None

    def datasets(self):
        """(dataset index, dataset, its (record index, raw record) pairs) that this part ingests: all, or the
        records ``only`` names."""
        if self.only is None:
            for dataset_index, dataset in enumerate(self.envelope.datasets):
                yield dataset_index, dataset, enumerate(dataset.data)
            return
        for dataset_index, places in groupby(self.only, key=attrgetter("dataset_index")):
            dataset = self.envelope.datasets[dataset_index]
            yield (
                dataset_index,
                dataset,
                [(place.record_index, dataset.data[place.record_index]) for place in places],
            )


@dataclass(slots=True)
class ValidRecord:
    """A record that passed validation: its index in its dataset, its raw JSON, the decoded record and its
    time (as a datetime, and as COPY text)."""

    index: int
    raw: object
    record: object
    moment: object
    stamp: str


class RecordGroup(NamedTuple):
    """The valid records of one dataset of a part; ``site_id`` is the PMS dataset's site (None for devices,
    which are placed reading by reading). A PMS group has its (record index, raw record) pairs instead, in
    ``raw_records``, an iterable read once: lines.pack_chunks decodes them."""

    part: Part
    dataset: decode.Dataset
    dataset_index: int
    site_id: int | None
    records: list[ValidRecord]
    raw_records: object = None


@dataclass
class Decoded:
    """The record groups that passed validation, per kind, before identities are resolved; the rejections
    of each part; the parser of their times (one ``now`` for the whole ingest)."""

    parts: int
    parse_time: TimeParser
    pms: list[RecordGroup] = field(default_factory=list)
    devices: dict = field(default_factory=lambda: {DatasetKind.MPPT: [], DatasetKind.INVERTER: []})
    rejections: list = field(init=False)
    times: list = field(init=False)  # the set of each part's valid records' times (PMS: once decoded)

    def __post_init__(self):
        self.rejections = [[] for _ in range(self.parts)]
        self.times = [set() for _ in range(self.parts)]

    def reject(self, group, record_index, raw, reason):
        self.rejections[group.part.index].append(
            rejection(group.dataset, group.dataset_index, record_index, raw, reason)
        )


def _decode_part(decoded, part, pms_sites, parse_time):
    for dataset_index, dataset, raw_records in part.datasets():
        kind, device_id = dataset.kind, dataset.device_id
        is_pms = kind == DatasetKind.PMS
        group = RecordGroup(part, dataset, dataset_index, pms_sites.get(device_id) if is_pms else None, [])
        if is_pms:
            problem = None
            if group.site_id is None:
                problem = f"datasets[{dataset_index}].pms.id: {device_id!r} is not the PMS id of any site"
            elif part.site is not None and group.site_id != part.site.id:
                problem = (
                    f"datasets[{dataset_index}].pms.id: {device_id!r} is not the PMS of {part.site.name}"
                )
            if problem:
                for record_index, raw in raw_records:
                    decoded.reject(group, record_index, raw, problem)
            else:
                decoded.pms.append(group._replace(raw_records=raw_records))
            continue
        records = group.records
        for record_index, raw in raw_records:
            try:
                record = decode.decode_device_record(raw, dataset_index, record_index)
                moment, stamp = parse_time(record.time_local, dataset_index, record_index)
            except decode.DecodeError as error:
                decoded.reject(group, record_index, raw, str(error))
                continue
            records.append(ValidRecord(record_index, raw, record, moment, stamp))
        decoded.times[part.index].update(valid.moment for valid in records)
        decoded.devices[kind].append(group)
