"""POST /api/v1/ingest/ against hostile bodies and headers: a 4xx naming the place, never a 500; rate limits.

Chunked bodies are sent to a real gunicorn (pms_site/gunicorn.conf.py), as a gateway would send them: Django's
test client always sends a Content-Length.
"""

import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings

from telemetry.models import IngestBatch
from telemetry.throttling import ingest_rate_limit
from telemetry.tokens import gateway_token_create
from tests.conftest import ARTIFACTS, ROOT
from tests.factories import build_site
from tests.telemetry.payloads import ago, dataset, envelope, pack_record, site_sample

URL = "/api/v1/ingest/"


@pytest.fixture
def site():
    return build_site(docks=4, at=ago(days=2))


@pytest.fixture
def token(site):
    return gateway_token_create(site=site, name="gateway")[1]


def post(client, body, token, content_type="application/json", **headers):
    return client.post(
        URL, data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}", **headers
    )


def valid_pms_dataset(site):
    return json.loads(site_sample(site, ago(minutes=1)))["datasets"][0]


DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            b'{"datasets": [{"pms": {"id": "02\xff\xfe44"}, "data": []}]}',
            "datasets[0].pms.id: not valid UTF-8: '02\ufffd\ufffd44'",
        ),
        (
            b'{"datasets": [{"pms": {"id": "A"}, "data": []}, {"mppt": {"id": "M\xc3"}, "data": []}]}',
            "datasets[1].mppt.id: not valid UTF-8: 'M\ufffd'",
        ),
        (
            b'{"datasets": [{"pms": {"id": "A"}, "data": [' + DEEP + b"]}]}",
            "body: JSON nested too deeply (the limit is about 1,000 levels)",
        ),
        (
            b'{"datasets": [], "datasets": [{"pms": {"id": "A"}, "data": []}]}',
            "body: the key 'datasets' is given 2 times; give it once",
        ),
        (
            b'{"datasets": [{"pms": {"id": "A"}, "data": [{"a": 1}], "data": []}]}',
            "datasets[0]: the key 'data' is given 2 times; give it once",
        ),
        (
            b'{"datasets": [{"pms": {"id": "A"}, "pms": {"id": "B"}, "data": []}]}',
            "datasets[0]: the key 'pms' is given 2 times; give it once",
        ),
        (
            b'{"datasets": [{"mppt": {"id": "A", "id": "B"}, "data": []}]}',
            "datasets[0].mppt: the key 'id' is given 2 times; give it once",
        ),
        (  # the extra "id" and a pack record without one: counting "id" over the body would miss it
            b'{"datasets": [{"pms": {"id": "A", "id": "B"}, "data": [{"time_local": "x"}]}]}',
            "datasets[0].pms: the key 'id' is given 2 times; give it once",
        ),
        (
            b'{"datasets": [{"pms" :\n {"id": "A", "x": {"id": 1}, "id": "B"}, "data": []}]}',
            "datasets[0].pms: the key 'id' is given 2 times; give it once",
        ),
        (  # the same key spelt with an escape
            b'{"datasets": [], "d\\u0061tasets": [{"pms": {"id": "A"}, "data": []}]}',
            "body: the key 'datasets' is given 2 times; give it once",
        ),
        (
            b'{"datasets": [{"pms": {"id": "A"}, "data": [{"volts": NaN}]}]}',
            "body: malformed JSON: JSON is malformed: invalid character (byte 54)",
        ),
        (
            b'{"datasets": [{"pms": {"id": "A"}, "data": [{"volts": Infinity}]}]}',
            "body: malformed JSON: JSON is malformed: invalid character (byte 54)",
        ),
        (
            b'{"datasets": [{"pms": {"id": ' + b"9" * 5000 + b'}, "data": []}]}',
            "datasets[0].pms.id: number out of range",
        ),
        (
            b'{"datasets": [{"pms": {"id": "A\\u0000B"}, "data": []}]}',
            "datasets[0].pms.id: expected `str` matching",
        ),
        (b"[]", "body: expected `object`, got `array`"),
        (b'"datasets"', "body: expected `object`, got `str`"),
        (b" \n", 'body: empty; expected a JSON object {"datasets": [...]}'),
    ],
)
def test_a_hostile_body_is_a_400_naming_the_place(db, client, site, token, body, detail):
    response = post(client, body, token)

    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    assert not IngestBatch.objects.exists()


@pytest.mark.parametrize(
    "record_value",
    [b"1e999", b"-1e999", b"9" * 5000, b'"\xff\xfe"', b"[" * 900 + b"]" * 900, b'{"a": 1, "a": 2}'],
)
def test_what_is_wrong_inside_a_record_is_landed_for_the_worker_to_quarantine_alone(
    db, client, site, token, record_value
):
    """Within a record, huge numbers, invalid UTF-8, repeated keys and the like cost only that record."""
    good = valid_pms_dataset(site)
    body = envelope(good, dataset("pms", site.pms_id, [{"pack": "PLACEHOLDER"}])).replace(
        b'"PLACEHOLDER"', record_value
    )

    response = post(client, body, token)

    assert response.status_code == 202
    assert bytes(IngestBatch.objects.get().payload) == body


def test_repeated_keys_in_a_record_do_not_refuse_its_neighbours(db, client, site, token):
    record = json.dumps(pack_record("X", 1, ago(minutes=1))).encode()
    repeated = record[:-1] + b', "pack": {}}'  # the record's "pack" twice: the worker's matter
    body = envelope(valid_pms_dataset(site)).replace(b'"data": [', b'"data": [' + repeated + b", ", 1)
    assert body.count(b'"datasets"') == 1

    assert post(client, body, token).status_code == 202


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        "Application/JSON",
    ],
)
def test_json_content_types_are_accepted(db, client, site, token, content_type):
    assert (
        post(client, site_sample(site, ago(minutes=1)), token, content_type=content_type).status_code == 202
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "",
    ],
)
def test_another_content_type_is_a_415_naming_the_expected_type(db, client, site, token, content_type):
    response = post(client, site_sample(site, ago(minutes=1)), token, content_type=content_type)

    assert response.status_code == 415
    assert response.json()["detail"].startswith("Content-Type: expected application/json (in UTF-8), got ")
    assert not IngestBatch.objects.exists()


def test_an_oversized_body_is_a_413(db, client, site, token, settings):
    settings.INGEST_MAX_BODY_BYTES = 1000
    body = site_sample(site, ago(minutes=1))
    assert len(body) > 1000

    response = post(client, body, token)

    assert response.status_code == 413
    assert "larger than the limit of 1000 bytes" in response.json()["detail"]


# --- the rate limit -----------------------------------------------------------------------------------------


def test_beyond_the_rate_a_token_gets_429_with_retry_after_and_other_tokens_go_on(db, client, site, settings):
    settings.INGEST_RATE_PER_TOKEN = "3/min"
    _, busy = gateway_token_create(site=site, name="busy")
    _, other = gateway_token_create(site=site, name="other")
    body = site_sample(site, ago(minutes=1))

    statuses = [post(client, body, busy).status_code for _ in range(3)]
    refused = post(client, body, busy)

    assert statuses == [202, 202, 202]
    assert refused.status_code == 429
    # Sliding: the minute's 3 fade over the next minute, so the wait may go beyond this one's end.
    assert 0 < int(refused["Retry-After"]) <= 2 * 60
    assert post(client, body, other).status_code == 202
    assert IngestBatch.objects.count() == 4


def test_the_limit_slides_over_a_window_edge_and_refused_requests_do_not_count(
    db, client, site, token, settings, monkeypatch
):
    settings.INGEST_RATE_PER_TOKEN = "3/min"
    window_start = 1_800_000_000  # a minute's start
    body = site_sample(site, ago(minutes=1))

    def post_at(seconds):
        monkeypatch.setattr(ingest_rate_limit, "clock", lambda: window_start + seconds)
        return post(client, body, token)

    accepted = [post_at(59).status_code for _ in range(3)]
    refused = [post_at(61) for _ in range(5)]  # the minute's 3 still count, nearly whole

    assert accepted == [202, 202, 202]
    assert {response.status_code for response in refused} == {429}
    # The last minute's 3 fade over this one: 20 s in, they count as 2 (rounded up), and the 5 refused not
    # at all, so there is room for one.
    assert refused[0]["Retry-After"] == "19"
    assert [post_at(80).status_code for _ in range(2)] == [202, 429]


def test_the_rate_limit_fails_open_and_logs_once_when_its_cache_is_unreachable(
    db, client, site, token, settings, caplog
):
    settings.INGEST_RATE_PER_TOKEN = "1/min"
    settings.CACHES = {
        **settings.CACHES,
        "shared": {**settings.CACHES["shared"], "LOCATION": "redis://127.0.0.1:56429/0"},  # nothing listens
    }
    body = site_sample(site, ago(minutes=1))

    with caplog.at_level(logging.ERROR, logger="telemetry.throttling"):
        statuses = [post(client, body, token).status_code for _ in range(3)]

    assert statuses == [202, 202, 202]
    assert [record.message.split(":")[0] for record in caplog.records] == ["Ingest rate limit off"]
    ingest_rate_limit.cache_unreachable = False


# --- chunked bodies through gunicorn ------------------------------------------------------------------------


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn_server(django_db_setup, django_db_blocker):
    """gunicorn as `make run` serves (pms_site/gunicorn.conf.py, one process) on the test database."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PMS_WORKER_DATABASE_NAME": django_settings.DATABASES["default"]["NAME"],
        "WEB_WORKERS": "1",
        "WEB_THREADS": "2",
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "gunicorn-chunked.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "pms_site/gunicorn.conf.py", "-b", f"127.0.0.1:{port}",
             "pms_site.wsgi"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (ARTIFACTS / "gunicorn-chunked.log").read_text()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not listen within 60 s"
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=20)


def send(port, token, body, headers=()):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **dict(headers)}
        conn.request("POST", URL, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def send_chunked(port, token, body, chunk_size=1000):
    """POST ``body`` in chunks with Transfer-Encoding: chunked and no Content-Length, as http.client does for
    an iterable body."""
    chunks = (body[start : start + chunk_size] for start in range(0, len(body), chunk_size))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST", URL, body=chunks, encode_chunked=True,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )  # fmt: skip
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_is_read_whole_and_landed_byte_for_byte(gunicorn_server, site, token):
    body = site_sample(site, ago(minutes=1))

    status, answer = send_chunked(gunicorn_server, token, body, chunk_size=100)

    assert status == 202
    assert bytes(IngestBatch.objects.get(id=answer["batch"]).payload) == body


@pytest.mark.django_db(transaction=True)
def test_an_empty_body_is_a_400(gunicorn_server, token):
    status, answer = send(gunicorn_server, token, b"")

    assert (status, answer["detail"]) == (400, 'body: empty; expected a JSON object {"datasets": [...]}')


@pytest.mark.django_db(transaction=True)
def test_an_rfc_2231_charset_django_cannot_look_up_is_a_415_not_a_500(gunicorn_server, site, token):
    content_type = "application/json; charset*=bogus''x"

    status, answer = send(
        gunicorn_server, token, site_sample(site, ago(minutes=1)), {"Content-Type": content_type}
    )

    assert (status, answer["detail"]) == (
        415,
        f"Content-Type: expected application/json (in UTF-8), got {content_type!r}",
    )


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_beyond_the_limit_is_a_413(gunicorn_server, site, token):
    body = envelope(dataset("pms", site.pms_id, [{"pad": "x" * 1000}] * 2200))
    assert len(body) > django_settings.INGEST_MAX_BODY_BYTES

    status, answer = send_chunked(gunicorn_server, token, body, chunk_size=64 * 1024)

    assert status == 413
    assert "larger than the limit" in answer["detail"]
    assert not IngestBatch.objects.exists()


# --- the documented status codes ----------------------------------------------------------------------------


def test_the_openapi_schema_documents_every_status_code_of_the_endpoint(admin_client):
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()

    responses = schema["paths"][URL]["post"]["responses"]

    assert sorted(responses) == ["202", "400", "401", "403", "413", "415", "429", "503"]
