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
lies within the plausible window of ``times.TimeParser``. One case is left to the caller, where the numbers
are formatted anyway: ``tiny_number_problem``. Keys given twice: repeated_keys.py.
"""

from typing import Annotated

import msgspec

from assets.constants import (
    CELL_BLOCKS_PER_CASE,
    FETS_PER_BOARD,
    LOAD_OUTPUTS,
    MAX_PMS_DOCK,
    PACK_TEMPS,
    PV_INPUTS,
)
from telemetry.ingest.errors import (
    DecodeError,
    explain,
    explain_decoding,
    is_invalid_utf8,
    record_place,
    shown,
)
from telemetry.ingest.repeated_keys import refuse_repeated_keys
from telemetry.models import DatasetKind

# Anything beyond this is not a measurement, and would not fit a PostgreSQL ``real`` losslessly anyway.
Number = Annotated[float, msgspec.Meta(ge=-1e6, le=1e6)]
DeviceId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
CELLS, FETS = CELL_BLOCKS_PER_CASE, FETS_PER_BOARD
# Nonzero magnitudes below this are no measurement; PostgreSQL's ``real`` refuses those it would round to 0.
SMALLEST_NUMBER = 1e-30

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


def decode_envelope(raw, *, keys_checked=False):
    """The envelope with each record left as raw JSON; raises DecodeError naming the place.

    msgspec keeps the last of duplicated keys, so a duplicated "datasets" or "data" would silently drop data:
    those are refused, unless ``keys_checked``: the body was refused for them before, if it had any (the
    HTTP endpoint checks before it lands a body, so the worker need not scan it again). Records stay raw;
    the worker decodes and quarantines them one by one."""
    if not raw.strip():
        raise DecodeError('body: empty; expected a JSON object {"datasets": [...]}')
    try:
        envelope = _envelope_decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise DecodeError(explain(error, "")) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        if is_invalid_utf8(error):
            raise DecodeError(_invalid_utf8_place(raw)) from None
        raise DecodeError(f"body: malformed JSON: {error}") from None
    except RecursionError:
        raise DecodeError("body: JSON nested too deeply (the limit is about 1,000 levels)") from None
    for index, dataset in enumerate(envelope.datasets):
        kinds = [kind for kind in DatasetKind.values if getattr(dataset, kind) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise DecodeError(
                f"datasets[{index}]: expected exactly one of pms, mppt, inverter; found {found}"
            )
    if not keys_checked:
        refuse_repeated_keys(raw, envelope)
    return envelope


def decode_pms_record(raw, dataset_index, record_index):
    try:  # _decode, inline: this runs for every pack reading
        record = _pms_decoder.decode(raw)
    except (ValueError, OverflowError, RecursionError) as error:
        raise DecodeError(explain_decoding(error, raw, record_place(dataset_index, record_index))) from None
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
            f"{record_place(dataset_index, record_index)}.pack.id: {shown(pack.id)} is not printable text "
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


def _decode(decoder, raw, dataset_index, record_index):
    """Decode one record; whatever hostile bytes make msgspec raise becomes a DecodeError naming the place."""
    try:
        return decoder.decode(raw)
    except (ValueError, OverflowError, RecursionError) as error:  # msgspec's errors are ValueErrors
        raise DecodeError(explain_decoding(error, raw, record_place(dataset_index, record_index))) from None


def _check_counts(counted, place):
    """``counted``: (values, expected count, field path). Checked on every record, so kept lean."""
    for values, expected, path in counted:
        if len(values) != expected:
            raise DecodeError(f"{place}.{path}: expected {expected} values, got {len(values)}")


def _numbers_in_range(numbers, highest, place):
    for number in numbers:
        if not 1 <= number <= highest:
            raise DecodeError(f"{place}: {number} is not between 1 and {highest}")


def _numbers_of(value, path):
    if isinstance(value, float):
        yield path, value
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            yield from _numbers_of(item, f"{path}[{index}]")
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield from _numbers_of(getattr(value, name), f"{path}.{name}")
