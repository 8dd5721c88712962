"""Hostile records: the record decoders raise DecodeError naming the place, or return a record PostgreSQL
takes; never anything else (one stray exception used to hold a batch and its companions for ever)."""

import copy
import json
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from django.db import connection, transaction
from hypothesis import event, given
from hypothesis import strategies as st

from assets.models import Kind
from telemetry.ingest import decode
from telemetry.ingest.times import TimeParser
from telemetry.models import PackState
from telemetry.services import ingest_payload
from tests.factories import build_site
from tests.reliability.fuzzing import fuzz_settings
from tests.telemetry.payloads import (
    ago,
    dataset,
    device_record,
    envelope,
    pack_record,
    sample_payload,
    time_local,
)
from tests.telemetry.test_ingest_core import install_device

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
PLACE = "datasets[0].data[3]"


def sample_record(name, index=0):
    """A valid record of the spec's sample ``name``, timed a minute before NOW."""
    return json.loads(sample_payload(name, NOW - timedelta(minutes=1)))["datasets"][0]["data"][index]


def raw_pms(*replacements):
    """The first PMS sample record as bytes, with (before, after) byte replacements."""
    raw = json.dumps(sample_record("pms.json")).encode()
    for before, after in replacements:
        assert before in raw
        raw = raw.replace(before, after, 1)
    return raw


def decode_one(kind, raw, parse_time=None):
    """What ingest does with one record: decode it, then parse its time."""
    decode_record = decode.decode_pms_record if kind == "pms" else decode.decode_device_record
    record = decode_record(raw, 0, 3)
    moment, stamp = (parse_time or TimeParser(now=NOW))(record.time_local, 0, 3)
    return record, moment, stamp


DEEP = 100_000


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (raw_pms((b'"0241"', b'"02\xff\xfe44"')), f"{PLACE}.pack.id: not valid UTF-8 text"),
        (
            raw_pms((b'"0241"', b'"02\\u000044"')),
            f"{PLACE}.pack.id: '02\\x0044' is not printable text (control characters such as NUL are "
            "refused)",
        ),
        (raw_pms((b'"0241"', b'"02\\n44"')), f"{PLACE}.pack.id: '02\\n44' is not printable text"),
        (raw_pms((b'"0241"', b'"02\\ud80044"')), f"{PLACE}: malformed JSON: unexpected end of escaped"),
        (
            raw_pms((b"+0700", b"+2359")),
            f"{PLACE}.time_local: '20261129T185900.000+2359' has a UTC offset PostgreSQL cannot store; "
            "offsets run from -15:59 to +15:59 in whole minutes",
        ),
        (
            raw_pms((b"T185900.000+0700", b"T18:59:00+07:00:30.5")),
            f"{PLACE}.time_local: '20261129T18:59:00+07:00:30.5' has a UTC offset PostgreSQL cannot store",
        ),
        (raw_pms((b'"dock": 1', b'"dock": 1.5')), f"{PLACE}.pack.dock: expected `int`, got `float`"),
        (raw_pms((b'"dock": 1', b'"dock": 1' + b"0" * 400)), f"{PLACE}.pack.dock: expected `int` <= 48"),
        (raw_pms((b'"55.1"', b"1e400")), f"{PLACE}.pack.volts: number out of range"),
        (raw_pms((b'"55.1"', b'"1e7"')), f"{PLACE}.pack.volts: expected `float` <= 1000000.0"),
        (raw_pms((b'"55.1"', b'"NaN"')), f"{PLACE}.pack.volts: expected `float`"),
        (raw_pms((b'"55.1"', b'"-Infinity"')), f"{PLACE}.pack.volts: expected `float` >= -1000000.0"),
        (raw_pms((b'"55.1"', b"NaN")), f"{PLACE}: malformed JSON: invalid character"),
        (raw_pms((b'"55.1"', b"Infinity")), f"{PLACE}: malformed JSON: invalid character"),
        (raw_pms((b'"35.0"', b"[" * DEEP + b"]" * DEEP)), f"{PLACE}.pack.temp[0]: expected `float`"),
        (
            raw_pms((b'"dock"', b'"extra": ' + b"[" * DEEP + b"]" * DEEP + b', "dock"')),
            f"{PLACE}: nested too deeply",
        ),
        (
            raw_pms((b'"dock"', b'"extra": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b', "dock"')),
            f"{PLACE}: nested too deeply",
        ),
        (b'{"time_local": ', f"{PLACE}: malformed JSON: input data was truncated"),
    ],
    ids=[
        "invalid-utf8-in-pack-id",
        "nul-in-pack-id",
        "line-break-in-pack-id",
        "lone-surrogate-in-pack-id",
        "offset-+2359",
        "offset-with-fractional-seconds",
        "fractional-dock",
        "huge-integer-dock",
        "huge-number",
        "number-beyond-the-range",
        "nan-as-string",
        "infinity-as-string",
        "nan-as-number",
        "infinity-as-number",
        "deep-nesting-in-a-field",
        "deep-array-nesting-in-an-unknown-field",
        "deep-object-nesting-in-an-unknown-field",
        "truncated",
    ],
)
def test_a_hostile_pms_record_gives_a_decode_error_naming_its_place(raw, message):
    with pytest.raises(decode.DecodeError) as error:
        decode_one("pms", raw)

    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batt": {"volts": "NaN", "amps": "1"}}, f"{PLACE}.batt.volts: expected `float`"),
        (
            {"time_local": "2026-11-29T18:59:00+16:00"},
            f"{PLACE}.time_local: '2026-11-29T18:59:00+16:00' has a UTC",
        ),
        (
            {"pv": {"volts": [1e300, 1], "amps": [1, 1]}},
            f"{PLACE}.pv.volts[0]: expected `float` <= 1000000.0",
        ),
    ],
)
def test_a_hostile_device_record_gives_a_decode_error_naming_its_place(change, message):
    raw = json.dumps({**sample_record("mppt.json"), **change}).encode()

    with pytest.raises(decode.DecodeError) as error:
        decode_one("mppt", raw)

    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("time_text", "message"),
    [
        (
            "1970-01-01T00:00:05+07:00",
            "1970-01-01T00:00:05+07:00 is 56 years before now; the gateway clock may be wrong "
            "(readings older than 90 days are not stored)",
        ),
        ("20190209T150006.032+0700", "2019-02-09T15:00:06.032000+07:00 is 7 years before now; the gateway"),
        ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+01:00 is 2025 years before now; the gateway"),
        (
            "9999-12-31T23:59:59.999999-14:00",
            "9999-12-31T23:59:59.999999-14:00 is 7973 years after now; the gateway clock may be wrong "
            "(readings more than 10 minutes ahead are not stored)",
        ),
        ("2026-11-29T12:11:00Z", "2026-11-29T12:11:00+00:00 is 11 minutes after now; the gateway clock"),
        ("2026-08-31T11:59:59Z", "2026-08-31T11:59:59+00:00 is 90 days before now; the gateway clock"),
    ],
)
def test_a_time_outside_the_window_blames_the_gateway_clock(time_text, message):
    with pytest.raises(decode.DecodeError) as error:
        TimeParser(now=NOW)(time_text, 0, 3)

    assert str(error.value).startswith(f"{PLACE}.time_local: {message}")


@pytest.mark.parametrize(
    "time_text",
    ["2026-08-31T12:00:01Z", "2026-11-29T12:10:00Z", "20261129T191000.000+0700", "2026-11-29T12:10:00+15:59"],
)
def test_times_within_the_window_are_parsed(time_text):
    moment, _ = TimeParser(now=NOW)(time_text, 0, 0)

    assert NOW - timedelta(days=90) < moment <= NOW + timedelta(minutes=10)


def test_the_window_follows_the_settings(settings):
    settings.TELEMETRY_RAW_RETENTION_DAYS = 7
    settings.TELEMETRY_MAX_FUTURE = timedelta(hours=2)
    parse_time = TimeParser(now=NOW)

    assert parse_time("2026-11-29T13:59:00Z", 0, 0)[0] == NOW + timedelta(minutes=119)
    with pytest.raises(decode.DecodeError, match="readings older than 7 days are not stored"):
        parse_time("2026-11-21T12:00:00Z", 0, 0)


def test_a_parser_measures_against_the_time_it_was_made_by_default():
    in_five_minutes = time_local(datetime.now(UTC) + timedelta(minutes=5))

    assert TimeParser()(in_five_minutes, 0, 0)
    with pytest.raises(decode.DecodeError, match="after now"):
        TimeParser(now=datetime.now(UTC) - timedelta(hours=1))(in_five_minutes, 0, 0)


def test_a_number_too_small_for_postgresql_is_named_for_the_caller_to_reject():
    record, _, _ = decode_one("pms", raw_pms((b'"3.92"', b"1e-50")))

    assert decode.tiny_number_problem(record, PLACE) == (
        f"{PLACE}.pack.cell.volts[0]: 1e-50 is too small to be a measurement (under 1e-30)"
    )
    assert decode.tiny_number_problem(decode_one("pms", raw_pms())[0], PLACE) is None


# --- Fuzz ---------------------------------------------------------------------------------------------------

VALID = [
    ("pms", sample_record("pms.json", 0)),
    ("pms", sample_record("pms.json", 1)),
    ("mppt", sample_record("mppt.json")),
    ("inverter", sample_record("inverter.json")),
]
offsets = st.one_of(
    st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda minutes: timedelta(minutes=minutes)),
    st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)),
)
moments = st.one_of(
    st.datetimes(timezones=st.builds(timezone, offsets)),
    st.builds(
        lambda delta, offset: (NOW + delta).astimezone(timezone(offset)),
        st.timedeltas(min_value=timedelta(days=-200), max_value=timedelta(days=200)),
        offsets,
    ),
)
times = st.one_of(
    moments.map(datetime.isoformat),
    moments.filter(lambda moment: 1 < moment.year < 9999).map(time_local),
    st.text(max_size=40),
)
numbers = st.one_of(st.integers(), st.floats(), st.floats().map(repr), st.integers().map(str))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, times, st.text()),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def paths(value, path=()):
    """The path of every node of decoded JSON ``value`` (the root's is ())."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*path, index))


@st.composite
def hostile_records(draw):
    """(kind, raw): a valid sample record with another time, values replaced or deleted, and random bytes
    put in."""
    kind, record = draw(st.sampled_from(VALID))
    record = copy.deepcopy(record)
    if draw(st.booleans()):
        record["time_local"] = draw(times)
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        inner = [path for path in paths(record) if path]
        if not inner:
            break
        *parents, last = draw(st.sampled_from(inner))
        target = record
        for key in parents:
            target = target[key]
        if isinstance(target, dict) and draw(st.booleans()):
            del target[last]
        else:
            target[last] = draw(json_values)
    if draw(st.integers(0, 20)) == 0:
        record = draw(json_values)
    raw = json.dumps(record).encode()
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        at = draw(st.integers(0, len(raw)))
        cut = draw(st.integers(0, 2))
        raw = raw[:at] + draw(st.binary(max_size=6)) + raw[at + cut :]
    return kind, raw


def storable(record, moment, stamp):
    """Send what ingest would store of ``record`` through PostgreSQL, as the COPY does: the time text and
    offset, the pack's id and dock, and the numbers as text (unless tiny_number_problem names one: ingest
    rejects the record then)."""
    time_text, offset = stamp.split("\t")
    pack = getattr(record, "pack", None)
    checks = ["%s::timestamptz", "%s::smallint", "%s::text", "%s::smallint"]
    values = [time_text, offset, pack.id if pack else "", pack.dock if pack else 0]
    if decode.tiny_number_problem(record, PLACE) is None:
        numbers = list(_floats(msgspec.to_builtins(record)))
        checks.append("%s::real[]")
        values.append("{" + msgspec.json.encode(numbers).decode()[1:-1] + "}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(checks)}", values)
        stored_time, *_ = cursor.fetchone()
    assert stored_time == moment


def _floats(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _floats(item)
    elif isinstance(value, list):
        for item in value:
            yield from _floats(item)


@pytest.mark.django_db
@fuzz_settings
@given(hostile=hostile_records())
def test_a_mutated_record_decodes_to_what_postgresql_stores_or_to_a_decode_error_naming_its_place(hostile):
    kind, raw = hostile
    try:
        decoded = decode_one(kind, raw)
    except decode.DecodeError as error:
        assert str(error).startswith(PLACE)
        assert str(error).isprintable()
        event("refused")
        return
    storable(*decoded)
    event("stored")


@pytest.mark.django_db
def test_a_number_too_small_for_postgresql_sends_its_record_to_quarantine_and_the_rest_is_stored():
    site = build_site(docks=4, at=ago(days=3))
    install_device(site, Kind.MPPT, "MPPT-TINY", ago(days=3))
    at = ago(minutes=3)
    packs = [
        pack_record(site.test_cases[(1, 1)].serial, 1, at),
        pack_record(site.test_cases[(1, 2)].serial, 2, at, volts="1e-50"),
    ]
    devices = [device_record(at, batt_volts="-1e-45"), device_record(at + timedelta(seconds=5))]

    result = ingest_payload(
        raw=envelope(dataset("pms", site.pms_id, packs), dataset("mppt", "MPPT-TINY", devices)), site=site
    )

    assert (result.stored, result.quarantined) == (2, 2)
    assert [rejection.reason for rejection in result.rejections] == [
        "datasets[0].data[1].pack.volts: 1e-50 is too small to be a measurement (under 1e-30)",
        "datasets[1].data[0].batt.volts: -1e-45 is too small to be a measurement (under 1e-30)",
    ]


@pytest.mark.django_db
def test_a_quarantined_tiny_number_leaves_each_case_its_own_newest_reading_as_latest_state():
    """A row taken out of a chunk shifts the lines after it: the latest state still comes from each case's
    newest stored reading."""
    site = build_site(docks=4, at=ago(days=3))
    first, second = site.test_cases[(1, 1)].serial, site.test_cases[(1, 2)].serial
    older, newer = ago(minutes=3), ago(minutes=2)
    packs = [
        pack_record(first, 1, newer, volts="1e-50"),
        pack_record(second, 2, older, volts="51.0"),
        pack_record(first, 1, older, volts="52.0"),
        pack_record(second, 2, newer, volts="53.0"),
    ]

    result = ingest_payload(raw=envelope(dataset("pms", site.pms_id, packs)), site=site)

    assert (result.stored, result.quarantined) == (3, 1)
    states = {
        state.case.serial: (state.time, state.volts) for state in PackState.objects.select_related("case")
    }
    assert states == {first: (older, pytest.approx(52.0)), second: (newer, pytest.approx(53.0))}
