"""Keys given twice in an envelope, a dataset or a device reference: msgspec keeps the last value, which
would silently drop data, so they are refused.

Duplicated keys in a record are not refused: msgspec has no option to refuse them (msgspec issue #648), and
finding them soundly in Python takes several scans of each record's bytes (count the keys; rule out escapes
and spaces before colons): three such scans measured +65 % of the record's decode time.
"""

import json
from collections import Counter

from telemetry.ingest.errors import DecodeError
from telemetry.models import DatasetKind


def refuse_repeated_keys(raw, envelope):
    """Raise DecodeError for a key given twice in the envelope ``raw`` (decoded as ``envelope``), a dataset
    or a device reference; records are left to the worker."""
    if _may_repeat_a_key(raw, envelope):
        _refuse_repeated_keys(raw)


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
    """Parses the whole body keeping every key (json hands an object's pairs over in order); msgspec has
    checked the shape already."""
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
