"""The wire format of gateway payloads (pms-data-spec.md), decoded with msgspec.

Decoding happens in two steps so that one bad record never costs its neighbours:

1. ``decode_envelope`` checks the envelope and each dataset's device id, leaving every record as raw JSON.
   The HTTP endpoint stops here.
2. ``decode_pms_record`` / ``decode_device_record`` decode one record into typed structs and check what a
   type cannot say (counts, ranges, the time). Errors name their place, e.g.
   "datasets[0].data[3].pack.cell.volts: expected 14 values, got 13".

Numbers may arrive as JSON strings ("55.1") or numbers: the record decoders run with ``strict=False``.
Record structs are ``gc=False`` with tuple arrays: a large payload's records then do not trigger repeated
garbage-collector passes, which otherwise cost more than the decoding itself.
"""

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from telemetry.models import DatasetKind

# Anything beyond this is not a measurement, and would not fit a PostgreSQL ``real`` losslessly anyway.
Number = Annotated[float, msgspec.Meta(ge=-1e6, le=1e6)]
DeviceId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
PACK_TEMPS, CELLS, FETS, PV_INPUTS, LOAD_OUTPUTS = 3, 14, 2, 2, 2
MAX_PMS_DOCK = 48


class DecodeError(Exception):
    """Bad input; the message names the place ("datasets[0].data[3].pack.volts: ...")."""


# A dataset's device id is stored as text in the landing row's quarantine and the readings: PostgreSQL refuses
# NUL, and no device id has control characters.
DeviceRefId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]


class DeviceRef(msgspec.Struct):
    id: DeviceRefId


class Dataset(msgspec.Struct):
    data: list[msgspec.Raw]
    pms: DeviceRef | None = None
    mppt: DeviceRef | None = None
    inverter: DeviceRef | None = None

    @property
    def kind(self):
        return next(kind for kind in DatasetKind.values if getattr(self, kind) is not None)

    @property
    def device_id(self):
        return getattr(self, self.kind).id


class Envelope(msgspec.Struct):
    datasets: list[Dataset]


class Cell(msgspec.Struct, gc=False):
    volts: tuple[Number, ...]
    open: tuple[int, ...] = ()


class Fet(msgspec.Struct, gc=False):
    temp: tuple[Number, ...]
    open: tuple[int, ...] = ()


class Pack(msgspec.Struct, gc=False):
    id: DeviceId
    dock: Annotated[int, msgspec.Meta(ge=1, le=MAX_PMS_DOCK)]
    volts: Number
    amps: Number
    temp: tuple[Number, ...]
    cell: Cell
    fet: Fet


class PmsRecord(msgspec.Struct, gc=False):
    time_local: str
    pack: Pack


class Pair(msgspec.Struct, gc=False):
    volts: tuple[Number, ...]
    amps: tuple[Number, ...]


class Battery(msgspec.Struct, gc=False):
    volts: Number
    amps: Number


class DeviceRecord(msgspec.Struct, gc=False):
    time_local: str
    pv: Pair
    batt: Battery
    load: Pair


_envelope_decoder = msgspec.json.Decoder(Envelope)
_pms_decoder = msgspec.json.Decoder(PmsRecord, strict=False)
_device_decoder = msgspec.json.Decoder(DeviceRecord, strict=False)


def _explain(error, prefix):
    """msgspec's "Expected `int`, got `str` - at `$.pack.dock`" -> "<prefix>.pack.dock: expected `int`..."."""
    message, _, where = str(error).partition(" - at `$")
    place = f"{prefix}{where.rstrip('`')}".lstrip(".") or "body"
    return f"{place}: {message[:1].lower()}{message[1:]}"


def decode_envelope(raw):
    """The envelope with each record left as raw JSON; raises DecodeError naming the place.

    msgspec keeps the last of duplicated keys, so a duplicated "datasets" or "data" would silently drop data:
    those are refused. Records stay raw; the worker decodes and quarantines them one by one."""
    if not raw.strip():
        raise DecodeError('body: empty; expected a JSON object {"datasets": [...]}')
    try:
        envelope = _envelope_decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise DecodeError(_explain(error, "")) from None
    except msgspec.DecodeError as error:
        raise DecodeError(f"body: malformed JSON: {error}") from None
    except UnicodeDecodeError:
        raise DecodeError(_invalid_utf8_place(raw)) from None
    except RecursionError:
        raise DecodeError("body: JSON nested too deeply (the limit is about 1,000 levels)") from None
    for index, dataset in enumerate(envelope.datasets):
        kinds = [kind for kind in DatasetKind.values if getattr(dataset, kind) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise DecodeError(
                f"datasets[{index}]: expected exactly one of pms, mppt, inverter; found {found}"
            )
    if _may_repeat_a_key(raw, envelope):
        _refuse_repeated_keys(raw)
    return envelope


def _invalid_utf8_place(raw):
    """The message for invalid UTF-8 in a string of the envelope: names the dataset's device id if it is
    there (the only strings the envelope decodes), else the body's first invalid byte."""
    try:
        lenient = _envelope_decoder.decode(raw.decode("utf-8", "replace"))
    except (msgspec.DecodeError, RecursionError):
        lenient = None
    for index, dataset in enumerate(lenient.datasets if lenient else ()):
        for kind in DatasetKind.values:
            ref = getattr(dataset, kind)
            if ref is not None and "\ufffd" in ref.id:
                return f"datasets[{index}].{kind}.id: not valid UTF-8: {ref.id!r}"
    try:
        raw.decode()
    except UnicodeDecodeError as error:
        return f"body: not valid UTF-8 (the first invalid byte is byte {error.start})"
    return "body: not valid UTF-8"


def _may_repeat_a_key(raw, envelope):
    """False when the envelope's keys cannot be repeated: no backslash (a key could be spelt with \\u escapes)
    and each key occurs as often as the decoded envelope explains. A few bytes.count calls (~80 µs for a
    48-pack sample), where a full parse of the body for its keys costs more than the rest of the endpoint."""
    datasets = envelope.datasets
    pms_records = sum(len(dataset.data) for dataset in datasets if dataset.pms is not None)
    return (
        b"\\" in raw
        or raw.count(b'"datasets"') != 1
        or raw.count(b'"data"') != len(datasets)
        or raw.count(b'"pms"') + raw.count(b'"mppt"') + raw.count(b'"inverter"') != len(datasets)
        or raw.count(b'"id"') != len(datasets) + pms_records  # each pack has one id
    )


def _refuse_repeated_keys(raw):
    """Parses the whole body keeping every key (json hands an object's pairs over in order), and raises
    DecodeError for a key repeated in the envelope, a dataset or a device reference. msgspec has checked the
    shape already; records are left to the worker."""
    try:
        body = json.loads(
            raw.decode("utf-8", "replace"),
            object_pairs_hook=list,
            parse_int=len,
            parse_float=len,
            parse_constant=len,
        )
    except (ValueError, RecursionError):
        return  # msgspec read it, so this is a difference of the two parsers, not a repeated key
    _refuse_repeats(body, "body")
    for index, dataset in enumerate(_last(body, "datasets")):
        _refuse_repeats(dataset, f"datasets[{index}]")
        for kind in DatasetKind.values:
            ref = _last(dataset, kind)
            if ref is not None:
                _refuse_repeats(ref, f"datasets[{index}].{kind}")


def _last(pairs, key):
    """The value of ``key`` in an object parsed into pairs, as msgspec reads it (the last one), or None."""
    values = [value for name, value in pairs if name == key]
    return values[-1] if values else None


def _refuse_repeats(pairs, place):
    counts = Counter(name for name, _ in pairs)
    for name, count in counts.items():
        if count > 1:
            raise DecodeError(f"{place}: the key {name!r} is given {count} times; give it once")


def record_place(dataset_index, record_index):
    return f"datasets[{dataset_index}].data[{record_index}]"


def _check_counts(counted, place):
    """``counted``: (values, expected count, field path). Checked on every record, so kept lean."""
    for values, expected, path in counted:
        if len(values) != expected:
            raise DecodeError(f"{place}.{path}: expected {expected} values, got {len(values)}")


def _numbers_in_range(numbers, highest, place):
    for number in numbers:
        if not 1 <= number <= highest:
            raise DecodeError(f"{place}: {number} is not between 1 and {highest}")


class TimeParser:
    """``time_local`` -> (datetime, its COPY text: the time and the UTC offset in minutes, tab-separated),
    remembering each string: the packs of one sample share one time."""

    def __init__(self):
        self._seen = {}

    def __call__(self, text, dataset_index, record_index):
        parsed = self._seen.get(text)
        if parsed is None:
            parsed = self._seen[text] = self._parse(text, record_place(dataset_index, record_index))
        return parsed

    @staticmethod
    def _parse(text, place):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise DecodeError(
                f"{place}.time_local: {text!r} is not an ISO 8601 time such as '20190209T150006.032+0700'"
            ) from None
        offset = moment.utcoffset()
        if offset is None:
            raise DecodeError(f"{place}.time_local: {text!r} has no UTC offset, e.g. '+0700'")
        return moment, f"{moment.isoformat()}\t{int(offset / timedelta(minutes=1))}"


def decode_pms_record(raw, dataset_index, record_index):
    try:
        record = _pms_decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise DecodeError(_explain(error, record_place(dataset_index, record_index))) from None
    pack = record.pack
    cell, fet = pack.cell, pack.fet
    if len(pack.temp) != PACK_TEMPS or len(cell.volts) != CELLS or len(fet.temp) != FETS:
        counted = [(pack.temp, PACK_TEMPS, "pack.temp"), (cell.volts, CELLS, "pack.cell.volts"),
                   (fet.temp, FETS, "pack.fet.temp")]  # fmt: skip
        _check_counts(counted, record_place(dataset_index, record_index))
    if cell.open:
        _numbers_in_range(cell.open, CELLS, f"{record_place(dataset_index, record_index)}.pack.cell.open")
    if fet.open:
        _numbers_in_range(fet.open, FETS, f"{record_place(dataset_index, record_index)}.pack.fet.open")
    return record


def decode_device_record(raw, dataset_index, record_index):
    try:
        record = _device_decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise DecodeError(_explain(error, record_place(dataset_index, record_index))) from None
    pv, load = record.pv, record.load
    counted = [(pv.volts, PV_INPUTS, "pv.volts"), (pv.amps, PV_INPUTS, "pv.amps"),
               (load.volts, LOAD_OUTPUTS, "load.volts"), (load.amps, LOAD_OUTPUTS, "load.amps")]  # fmt: skip
    _check_counts(counted, record_place(dataset_index, record_index))
    return record
