"""Keys given twice in an envelope, a dataset or a device reference: msgspec keeps the last value, which
would silently drop data, so they are refused.

Duplicated keys in a record are not refused: msgspec has no option to refuse them (msgspec issue #648), and
finding them soundly in Python takes several scans of each record's bytes (count the keys; rule out escapes
and spaces before colons): three such scans measured +65 % of the record's decode time.
"""

import json
import re
from collections import Counter

from telemetry.ingest.errors import DecodeError
from telemetry.models import DatasetKind


def refuse_repeated_keys(raw, envelope):
    """Raise DecodeError for a key given twice in the envelope ``raw`` (decoded as ``envelope``), a dataset
    or a device reference; records are left to the worker."""
    if _may_repeat_a_key(raw, envelope):
        _refuse_repeated_keys(raw)


def _may_repeat_a_key(raw, envelope):
    """False when the keys that matter cannot be repeated: one regex pass over the body (27 ms for 11 MB of
    pack records, against 37 for a count of each key; a full parse of the body for its keys costs more than
    the rest of the endpoint).

    With no backslash (a key could be spelt with \\u escapes), each key of the body is a literal string,
    and a key's opening quote follows "{", "," or a space, so the regex finds every one. The decoded
    envelope has at least one "datasets" key and, per dataset, a "data" key and the key of its kind: with
    exactly that many ``"data...`` and kind keys in the whole body, none is repeated, and each kind key found
    is a dataset's, whose device reference (a small object) is then parsed to count its own keys."""
    if b"\\" in raw:
        return True
    datasets = len(envelope.datasets)
    kinds, data = [], 0
    for match in _KEYS.finditer(raw):
        if match.group() == b'"data':
            data += 1
        else:
            kinds.append(match.end())
    return (
        data != 1 + datasets
        or len(kinds) != datasets
        or any(_reference_may_repeat_a_key(raw, end) for end in kinds)
    )


_KEYS = re.compile(rb'"(?:data|pms"|mppt"|inverter")')  # "data" and "datasets" alike
_REFERENCE_BYTES = 1024  # a device reference is an id of up to 64 characters: longer ones take the full parse
_JSON_SPACE = " \t\n\r"
_pairs_decoder = json.JSONDecoder(object_pairs_hook=list, parse_int=len, parse_float=len, parse_constant=len)


def _reference_may_repeat_a_key(raw, end):
    """Whether the object after the key ending at ``end`` of ``raw`` may repeat a key: True unless it is
    parsed, whole, from the next _REFERENCE_BYTES bytes with each key once."""
    text = raw[end : end + _REFERENCE_BYTES].decode("utf-8", "replace")
    colon = text.find(":")
    start = len(text) - len(text[colon + 1 :].lstrip(_JSON_SPACE))
    if colon < 0 or text[:colon].strip(_JSON_SPACE) or not text.startswith("{", start):
        return True
    try:
        pairs, _ = _pairs_decoder.raw_decode(text, start)
    except (ValueError, RecursionError):
        return True
    return len({name for name, _ in pairs}) != len(pairs)


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
