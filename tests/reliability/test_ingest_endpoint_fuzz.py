"""A hypothesis fuzz of POST /api/v1/ingest/ through Django's test client on the real database: random bytes,
mutated valid payloads, random JSON, content types and headers. Never a 500 (the test client raises any
exception a view lets out); every 202 is a landed batch holding exactly the body sent."""

import json

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from telemetry.models import IngestBatch
from telemetry.tokens import gateway_token_create
from tests.factories import build_site
from tests.reliability.fuzzing import fuzz_settings
from tests.telemetry.payloads import ago, dataset, device_record, envelope, pack_record

URL = "/api/v1/ingest/"
ANSWERS = {202, 400, 401, 413, 415}

VALID = envelope(
    dataset(
        "pms", "PMS-FUZZ", [pack_record("0241", 1, ago(minutes=1)), pack_record("0242", 2, ago(minutes=1))]
    ),
    dataset("mppt", "MPPT-FUZZ", [device_record(ago(minutes=1))]),
)
# Pieces a mutation splices in: JSON's own syntax, the envelope's keys, and what has broken parsers before.
PIECES = [
    b'"datasets"', b'"data"', b'"pms"', b'"mppt"', b'"id"', b"{", b"}", b"[", b"]", b",", b":", b'"',
    b"\\u0000", b"\\ud800", b"\xff\xfe", b"\xc3", b"NaN", b"Infinity", b"-1e999", b"9" * 400, b"[" * 1200,
    b"null", b"true", b"\x00",
]  # fmt: skip


@st.composite
def mutated(draw):
    body = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        if action == "insert":
            body[at:at] = draw(st.sampled_from(PIECES) | st.binary(max_size=8))
        elif action == "delete":
            del body[at : at + draw(st.integers(1, 40))]
        elif action == "replace":
            body[at : at + 1] = draw(st.sampled_from(PIECES))
        else:
            end = draw(st.integers(at, len(body)))
            body[end:end] = body[at:end]
    return bytes(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
shaped_datasets = st.lists(
    st.dictionaries(
        st.sampled_from(["pms", "mppt", "inverter", "data", "id"]),
        st.fixed_dictionaries({"id": json_values}) | st.lists(json_values, max_size=3) | json_values,
        max_size=3,
    ),
    max_size=3,
)
shaped = shaped_datasets.map(lambda datasets: json.dumps({"datasets": datasets}).encode())
bodies = st.one_of(
    st.binary(max_size=300),
    mutated(),
    mutated(),
    json_values.map(lambda value: json.dumps(value).encode()),
    shaped,
    st.just(VALID),
)
json_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "APPLICATION/JSON"])
# Random media types, but not RFC 2231 parameters (charset*=x''y): with an unknown charset there Django 5.2's
# own request class raises, which the test client uses; pms_site/wsgi.py handles it for real servers
# (test_ingest_endpoint.py checks that through gunicorn).
# Random media types, but not RFC 2231 parameters (charset*=x''y): with an unknown charset there Django 5.2's
# own request class raises, which the test client uses; pms_site/wsgi.py handles it for real servers
# (test_ingest_endpoint.py checks that through gunicorn).
content_types = st.one_of(
    json_types,
    json_types,
    json_types,
    st.sampled_from(
        ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1", ""]
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz/;=+- ", max_size=40),
)
# Mostly the gateway's own token, so that most examples reach the body.
authorizations = st.one_of(
    st.just("the token"),
    st.just("the token"),
    st.just("the token"),
    st.just("the token"),
    st.sampled_from(["none", "Bearer", "Bearer x y", "Basic abc", "Bearer \xff\xfe"]),
    st.text(max_size=20),
)


@pytest.fixture
def raw_token(db, settings):
    settings.INGEST_RATE_PER_TOKEN = "1000000/min"
    site = build_site(docks=4, at=ago(days=2))
    return gateway_token_create(site=site, name="fuzz")[1]


@fuzz_settings
@given(
    body=bodies,
    content_type=content_types,
    keyword=st.sampled_from(["Bearer", "Token", "bearer"]),
    authorization=authorizations,
    forwarded_for=st.none() | st.text(max_size=30),
)
def test_the_endpoint_never_answers_500_and_every_202_is_landed(
    client, raw_token, body, content_type, keyword, authorization, forwarded_for
):
    headers = {}
    if authorization == "the token":
        headers["HTTP_AUTHORIZATION"] = f"{keyword} {raw_token}"
    elif authorization != "none":
        headers["HTTP_AUTHORIZATION"] = authorization
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for

    # generic(), as post() re-encodes the body to the charset the content type names
    response = client.generic("POST", URL, data=body, content_type=content_type, **headers)

    event(f"answered {response.status_code}")  # shown by --hypothesis-show-statistics
    assert response.status_code in ANSWERS, response.content
    if response.status_code == 202:
        assert bytes(IngestBatch.objects.get(id=response.json()["batch"]).payload) == body
    else:
        assert response.json()["detail"]
