"""DecodeError, and messages that name the place of bad input: "datasets[0].data[3].pack.cell.volts: ..."."""

import msgspec


class DecodeError(Exception):
    """Bad input; the message names the place ("datasets[0].data[3].pack.volts: ...")."""


def record_place(dataset_index, record_index):
    return f"datasets[{dataset_index}].data[{record_index}]"


def shown(text, longest=40):
    """``text`` quoted for a message, cut short."""
    return repr(text if len(text) <= longest else f"{text[:longest]}...")


def explain(error, prefix):
    """msgspec's "Expected `int`, got `str` - at `$.pack.dock`" -> "<prefix>.pack.dock: expected `int`..."."""
    message, _, where = str(error).partition(" - at `$")
    place = f"{prefix}{where.rstrip('`')}".lstrip(".") or "body"
    return f"{place}: {message[:1].lower()}{message[1:]}"


def is_invalid_utf8(error):
    """msgspec before 0.23 raises UnicodeDecodeError for bytes that are not UTF-8; 0.23 and later raise
    DecodeError("Invalid UTF-8 encoded string")."""
    return isinstance(error, UnicodeDecodeError) or (
        isinstance(error, msgspec.DecodeError) and "invalid utf-8" in str(error).lower()
    )


def explain_decoding(error, raw, place):
    if isinstance(error, msgspec.ValidationError):
        return explain(error, place)
    if is_invalid_utf8(error):
        return f"{_place_of_invalid_utf8(raw, place)}: not valid UTF-8 text"
    if isinstance(error, msgspec.DecodeError):
        message = str(error).removeprefix("JSON is malformed: ")
        return f"{place}: malformed JSON: {message[:1].lower()}{message[1:]}"
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
