"""The HTTP benchmark's baseline: a bare WSGI app that only lands the body, one autocommitted INSERT into a
copy of the landing table (BARE_TABLE, same columns and indexes), and answers 202 with the batch id. No
Django, no token, no checks, no message: what any ingest endpoint on this stack must at least spend.
gunicorn serves it with the project's configuration; the database is named by PMS_BENCH_BARE_DSN."""

import os
import threading
import uuid

import psycopg

BARE_TABLE = "bench_bare_landing"
LAND_SQL = f"""
INSERT INTO {BARE_TABLE}
    (id, received_at, enqueued_at, source, payload, status, attempts, stored, duplicate, quarantined, error)
VALUES (%s, now(), now(), 'http', %s, 'pending', 0, 0, 0, 0, '')
"""
_local = threading.local()


def application(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if not hasattr(_local, "connection"):
        _local.connection = psycopg.connect(os.environ["PMS_BENCH_BARE_DSN"], autocommit=True)
    batch_id = uuid.uuid4()
    _local.connection.execute(LAND_SQL, (batch_id, body))
    answer = b'{"batch": "%s"}' % str(batch_id).encode()
    start_response(
        "202 Accepted", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))]
    )
    return [answer]
