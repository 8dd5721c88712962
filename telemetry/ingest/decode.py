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

The record decoders raise DecodeError and nothing else, whatever the bytes (invalid UTF-8, deep nesting,
huge numbers, NaN), and return only what PostgreSQL takes: ids are printable text (``str.isprintable``: no
control characters such as NUL, no line breaks), a time has a UTC offset of whole minutes within ±15:59 and
lies within the plausible window of ``TimeParser``. One case is left to the caller, where the numbers are
formatted anyway: ``tiny_number_problem``.

Duplicated keys in a record are not refused: msgspec keeps the last value and has no option to refuse them
(msgspec issue #648), and finding them soundly in Python takes several scans of each record's bytes (count the
keys; rule out escapes and spaces before colons): three such scans measured +65 % of the record's decode time.
"""

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated

import msgspec
from django.conf import settings
from django.utils import timezone

from telemetry.models import DatasetKind

# Anything beyond this is not a measurement, and would not fit a PostgreSQL ``real`` losslessly anyway.
Number = Annotated[float, msgspec.Meta(ge=-1e6, le=1e6)]
DeviceId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
PACK_TEMPS, CELLS, FETS, PV_INPUTS, LOAD_OUTPUTS = 3, 14, 2, 2, 2
MAX_PMS_DOCK = 48
# PostgreSQL takes UTC offsets up to 15:59 (and whole minutes are all the offset column holds).
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
# Nonzero magnitudes below this are no measurement; PostgreSQL's ``real`` refuses those it would round to 0.
SMALLEST_NUMBER = 1e-30
ONE_MINUTE = timedelta(minutes=1)


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


def _shown(text, longest=40):
    """``text`` quoted for a message, cut short."""
    return repr(text if len(text) <= longest else f"{text[:longest]}...")


def _decode(decoder, raw, dataset_index, record_index):
    """Decode one record; whatever hostile bytes make msgspec raise becomes a DecodeError naming the place."""
    try:
        return decoder.decode(raw)
    except (ValueError, OverflowError, RecursionError) as error:  # msgspec's errors are ValueErrors
        raise DecodeError(_explain_decoding(error, raw, record_place(dataset_index, record_index))) from None


def _explain_decoding(error, raw, place):
    if isinstance(error, msgspec.ValidationError):
        return _explain(error, place)
    if isinstance(error, msgspec.DecodeError):
        message = str(error).removeprefix("JSON is malformed: ")
        return f"{place}: malformed JSON: {message[:1].lower()}{message[1:]}"
    if isinstance(error, UnicodeDecodeError):
        return f"{_place_of_invalid_utf8(raw, place)}: not valid UTF-8 text"
    if isinstance(error, RecursionError):
        return f"{place}: nested too deeply"
    return f"{place}: {error}"


def _place_of_invalid_utf8(raw, place):
    """The place of the first string of a record that holds bytes that are not UTF-8 (the record's place if
    it cannot be told)."""
    try:
        decoded = msgspec.json.decode(bytes(raw).decode("utf-8", "replace"))
        return place + (_path_to(decoded, "\ufffd") or "")
    except (msgspec.DecodeError, RecursionError):
        return place


def _path_to(value, mark, path=""):
    """The path (".pack.id", ".temp[2]") of the first string in decoded JSON ``value`` holding ``mark``."""
    if isinstance(value, str):
        return path if mark in value else None
    if isinstance(value, dict):
        items = ((f"{path}.{key}", key, item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{index}]", "", item) for index, item in enumerate(value))
    else:
        return None
    for item_path, key, item in items:
        found = item_path if mark in key else _path_to(item, mark, item_path)
        if found is not None:
            return found
    return None


def _check_counts(counted, place):
    """``counted``: (values, expected count, field path). Checked on every record, so kept lean."""
    for values, expected, path in counted:
        if len(values) != expected:
            raise DecodeError(f"{place}.{path}: expected {expected} values, got {len(values)}")


def _numbers_in_range(numbers, highest, place):
    for number in numbers:
        if not 1 <= number <= highest:
            raise DecodeError(f"{place}: {number} is not between 1 and {highest}")


def _how_long(delta):
    """A length of time in its largest whole unit, rounded down: "56 years", "3 days", "10 minutes"."""
    for unit, length in (
        ("year", timedelta(days=365.2425)),
        ("day", timedelta(days=1)),
        ("hour", timedelta(hours=1)),
        ("minute", ONE_MINUTE),
    ):
        if delta >= length:
            count = delta // length
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return "less than a minute"


class TimeParser:
    """``time_local`` -> (datetime, its COPY text: the time and the UTC offset in minutes, tab-separated),
    remembering each string: the packs of one sample share one time.

    Refuses an offset PostgreSQL does not take (beyond ±15:59, or not whole minutes) and an implausible time:
    older than the raw retention, or more than TELEMETRY_MAX_FUTURE ahead of ``now`` (by default, when the
    parser is made; one parser serves a whole group of batches). Such a time is most often a gateway whose
    clock was reset, so the message says so.
    """

    def __init__(self, *, now=None):
        self._now = now or timezone.now()
        self._retention = timedelta(days=settings.TELEMETRY_RAW_RETENTION_DAYS)
        self._oldest = self._now - self._retention
        self._newest = self._now + settings.TELEMETRY_MAX_FUTURE
        self._seen = {}

    def __call__(self, text, dataset_index, record_index):
        parsed = self._seen.get(text)
        if parsed is None:
            parsed = self._seen[text] = self._parse(
                text, f"{record_place(dataset_index, record_index)}.time_local"
            )
        return parsed

    def _parse(self, text, place):
        try:
            moment = datetime.fromisoformat(text)
        except (ValueError, OverflowError):
            raise DecodeError(
                f"{place}: {_shown(text)} is not an ISO 8601 time such as '20190209T150006.032+0700'"
            ) from None
        offset = moment.utcoffset()
        if offset is None:
            raise DecodeError(f"{place}: {_shown(text)} has no UTC offset, e.g. '+0700'")
        if offset % ONE_MINUTE or abs(offset) > MAX_UTC_OFFSET:
            raise DecodeError(
                f"{place}: {_shown(text)} has a UTC offset PostgreSQL cannot store; offsets run from "
                "-15:59 to +15:59 in whole minutes"
            )
        if moment < self._oldest:
            raise DecodeError(
                f"{place}: {moment.isoformat()} is {_how_long(self._now - moment)} before now; the gateway "
                f"clock may be wrong (readings older than {_how_long(self._retention)} are not stored)"
            )
        if moment > self._newest:
            raise DecodeError(
                f"{place}: {moment.isoformat()} is {_how_long(moment - self._now)} after now; the gateway "
                f"clock may be wrong (readings more than {_how_long(settings.TELEMETRY_MAX_FUTURE)} ahead "
                "are not stored)"
            )
        return moment, f"{moment.isoformat()}\t{offset // ONE_MINUTE}"


def decode_pms_record(raw, dataset_index, record_index):
    record = _decode(_pms_decoder, raw, dataset_index, record_index)
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
    if not pack.id.isprintable():
        raise DecodeError(
            f"{record_place(dataset_index, record_index)}.pack.id: {_shown(pack.id)} is not printable text "
            "(control characters such as NUL are refused)"
        )
    return record


def decode_device_record(raw, dataset_index, record_index):
    record = _decode(_device_decoder, raw, dataset_index, record_index)
    pv, load = record.pv, record.load
    counted = [(pv.volts, PV_INPUTS, "pv.volts"), (pv.amps, PV_INPUTS, "pv.amps"),
               (load.volts, LOAD_OUTPUTS, "load.volts"), (load.amps, LOAD_OUTPUTS, "load.amps")]  # fmt: skip
    _check_counts(counted, record_place(dataset_index, record_index))
    return record


def tiny_number_problem(record, place):
    """The first number of a decoded record that is not zero but smaller than SMALLEST_NUMBER, as a reason
    ("<place>.pack.cell.volts[3]: 1e-50 is ..."), or None.

    Such a number passes the decoder but PostgreSQL's ``real`` may refuse it. Checking every number of every
    record would cost half the decode time; the numbers are formatted for COPY anyway, and a tiny one is
    formatted with an exponent, so call this only for a record whose formatted numbers hold "e-"."""
    for path, number in _numbers_of(record, ""):
        if 0 < abs(number) < SMALLEST_NUMBER:
            return f"{place}{path}: {number!r} is too small to be a measurement (under {SMALLEST_NUMBER:g})"
    return None


def _numbers_of(value, path):
    if isinstance(value, float):
        yield path, value
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            yield from _numbers_of(item, f"{path}[{index}]")
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield from _numbers_of(getattr(value, name), f"{path}.{name}")
