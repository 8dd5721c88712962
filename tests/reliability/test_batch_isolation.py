"""One bad batch never takes its companions down: a record PostgreSQL refuses is quarantined with the
database's message and its neighbours stored; an unexpected error fails its own batch alone; retries are
bounded and never multiply messages; and publishing never makes a request wait for the broker."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError, transaction

from pms_site.celery import app as celery_app
from telemetry import services
from telemetry.ingest import decode
from telemetry.ingest.resolve import PackResolver
from telemetry.models import IngestBatch, PackReading, QuarantinedRecord
from tests.conftest import ROOT, wait_until
from tests.factories import build_site
from tests.telemetry.payloads import BANGKOK, ago, dataset, envelope, pack_record, site_sample

DOCKS = 4


def land(payload, site):
    return IngestBatch.objects.create(payload=payload, site=site, enqueued_at=ago(seconds=1))


def outcome(batch):
    batch.refresh_from_db()
    return batch.status, batch.stored, batch.duplicate, batch.quarantined


def poisoned_sample(site, at):
    """Every case of ``site`` at ``at`` (all valid) and, among them, two records PostgreSQL refuses: a UTC
    offset beyond its +15:59 and a pack id with a NUL character. Returns (payload, place of each poison
    record)."""
    records = [pack_record(case.serial, dock, at) for (_, dock), case in sorted(site.test_cases.items())]
    beyond_offsets = pack_record(site.test_cases[(1, 1)].serial, 1, at)
    beyond_offsets["time_local"] = at.astimezone(BANGKOK).strftime("%Y%m%dT%H%M%S.000+2359")
    with_nul = pack_record("02\x0044", 2, at)
    records[1:1], records[-1:-1] = [beyond_offsets], [with_nul]
    payload = envelope(dataset("pms", site.pms_id, records))
    return payload, [decode.record_place(0, 1), decode.record_place(0, len(records) - 2)]


def assert_poison_quarantined(batch, places):
    reasons = dict(QuarantinedRecord.objects.filter(batch_id=batch.id).values_list("record_index", "reason"))
    assert len(reasons) == len(places)
    for place, reason in zip(places, sorted(reasons.values()), strict=True):
        assert reason.startswith(f"{place}"), reason


@pytest.mark.django_db
def test_records_postgresql_refuses_are_quarantined_and_every_other_batch_of_the_group_stored_once():
    first_site, second_site = build_site(docks=DOCKS, at=ago(days=1)), build_site(docks=DOCKS, at=ago(days=1))
    before = [land(site_sample(site, ago(minutes=3)), site) for site in (first_site, second_site)]
    payload, places = poisoned_sample(first_site, ago(minutes=2))
    poisoned = land(payload, first_site)
    after = [land(site_sample(site, ago(minutes=1)), site) for site in (first_site, second_site)]

    processed = services.batch_process(batch_id=before[0].id, companions=10)

    assert len(processed) == 5
    for batch in [*before, *after]:
        assert outcome(batch) == ("done", DOCKS, 0, 0)
        assert PackReading.objects.filter(batch_id=batch.id).count() == DOCKS
    assert outcome(poisoned) == ("done", DOCKS, 0, 2)
    assert PackReading.objects.filter(batch_id=poisoned.id).count() == DOCKS
    assert_poison_quarantined(poisoned, places)
    assert not IngestBatch.objects.exclude(status="done").exists()


def raise_for_pack(original, pack_id, *, argument):
    """``original``, raising RuntimeError when its positional ``argument`` (text or raw JSON) holds
    ``pack_id``."""

    def patched(*args):
        text = args[argument]
        if pack_id in (text if isinstance(text, str) else bytes(text).decode()):
            raise RuntimeError(f"unexpected trouble with {pack_id}")
        return original(*args)

    return patched


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["record decoder", "pack resolution during the COPY"])
def test_an_unexpected_error_fails_its_own_batch_with_its_own_message_and_no_other(monkeypatch, where):
    sites = [build_site(docks=DOCKS, at=ago(days=1)) for _ in range(3)]
    batches = [land(site_sample(site, ago(minutes=1)), site) for site in sites]
    cursed = sites[1].test_cases[(1, 2)].serial
    if where == "record decoder":
        decoder = raise_for_pack(decode.decode_pms_record, cursed, argument=0)
        monkeypatch.setattr(decode, "decode_pms_record", decoder)
    else:
        monkeypatch.setattr(PackResolver, "case_at", raise_for_pack(PackResolver.case_at, cursed, argument=1))

    services.batch_process(batch_id=batches[0].id, companions=10)

    failed = IngestBatch.objects.get(id=batches[1].id)
    assert (failed.status, failed.error) == ("failed", f"RuntimeError: unexpected trouble with {cursed}")
    assert PackReading.objects.filter(batch_id=failed.id).count() == 0
    for batch in (batches[0], batches[2]):
        assert outcome(batch) == ("done", DOCKS, 0, 0)
    assert PackReading.objects.count() == 2 * DOCKS


@pytest.mark.django_db(transaction=True)
def test_operational_errors_are_retried_for_the_batch_alone_and_at_most_ingest_max_attempts_times(
    other_session, settings
):
    site = build_site(docks=DOCKS, at=ago(days=1))
    batch = land(site_sample(site, ago(minutes=2)), site)
    companion = land(site_sample(site, ago(minutes=1)), site)
    settings.INGEST_MAX_ATTEMPTS = 2
    settings.INGEST_LOCK_TIMEOUT = "200ms"
    with other_session.cursor() as cursor:
        cursor.execute("LOCK TABLE telemetry_packstate IN ACCESS EXCLUSIVE MODE")

    with pytest.raises(OperationalError, match="lock timeout"):  # the task retries it
        services.batch_process(batch_id=batch.id, companions=10)
    assert outcome(batch)[0] == "pending"
    assert services.batch_process(batch_id=batch.id, companions=10) == []  # used up: no retry

    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == ("failed", 2)
    assert batch.error.startswith("LockNotAvailable: canceling statement due to lock timeout") or (
        "lock timeout" in batch.error
    )
    assert services.batch_process(batch_id=batch.id) == []
    assert batch.attempts == IngestBatch.objects.get(id=batch.id).attempts
    companion.refresh_from_db()  # never blamed for it
    assert (companion.status, companion.attempts, companion.error) == ("pending", 0, "")


@pytest.mark.django_db
def test_a_batch_whose_worker_died_on_its_last_attempt_is_failed_when_it_starts_again(settings):
    site = build_site(docks=DOCKS, at=ago(days=1))
    batch = land(site_sample(site, ago(minutes=1)), site)
    IngestBatch.objects.filter(id=batch.id).update(status="processing", attempts=settings.INGEST_MAX_ATTEMPTS)

    assert services.batch_process(batch_id=batch.id) == []

    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == ("failed", settings.INGEST_MAX_ATTEMPTS)
    assert batch.error == (
        f"Gave up after {settings.INGEST_MAX_ATTEMPTS} attempts; last error: none, its worker stopped mid-way"
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_poison_batch_among_many_good_ones_keeps_the_broker_queue_bounded(celery_worker_process):
    sites = [build_site(docks=DOCKS, at=ago(days=1)) for _ in range(3)]
    payload, places = poisoned_sample(sites[0], ago(minutes=5))
    good = [(site, site_sample(site, ago(seconds=10 * n))) for n in range(1, 21) for site in sites]
    broker = celery_app.connection_for_write().default_channel.client
    with transaction.atomic():  # all published at once: a backlog, so the tasks take companions
        poisoned = services.batch_receive(raw=payload, site_id=sites[0].id)
        good_ids = [services.batch_receive(raw=body, site_id=site.id) for site, body in good]

    longest = 0

    def all_finished():
        nonlocal longest
        longest = max(longest, broker.llen("ingest"))
        return not IngestBatch.objects.filter(status__in=["pending", "processing"]).exists()

    wait_until(all_finished, timeout=60, interval=0.05)

    # One message per batch at most.
    assert longest <= len(good) + 1 + 5
    assert set(IngestBatch.objects.values_list("status", flat=True)) == {"done"}
    assert PackReading.objects.count() == DOCKS * (len(good) + 1)
    assert PackReading.objects.filter(batch_id__in=good_ids).count() == DOCKS * len(good)
    assert_poison_quarantined(IngestBatch.objects.get(id=poisoned), places)


PUBLISH_DURING_OUTAGE = """
import json, logging, sys, time
import django
django.setup()
from django.db import connection
from telemetry import services
logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
payload = sys.argv[1].encode()
connection.ensure_connection()
times = []
for _ in range(20):
    started = time.monotonic()
    services.batch_receive(raw=payload)
    times.append(time.monotonic() - started)
time.sleep(3)  # the publisher's thread meets the hung broker meanwhile
print(json.dumps(times))
"""


@pytest.mark.django_db(transaction=True)
def test_landing_a_batch_never_waits_for_a_broker_that_does_not_answer(tmp_path):
    """A broker that accepts connections and never answers is the worst case: a refused connection fails
    fast, a hung one waits for timeouts."""
    import socket

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(100)  # connections complete in the backlog; nothing ever reads or answers them
    port = hung.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PMS_WORKER_DATABASE_NAME": django_settings.DATABASES["default"]["NAME"],
        "TEST_CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
    }
    body = envelope(dataset("pms", "PMS-NONE", []))
    try:
        run = subprocess.run(
            [sys.executable, "-c", PUBLISH_DURING_OUTAGE, body.decode()],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        hung.close()

    assert run.returncode == 0, run.stderr
    times = sorted(json.loads(run.stdout))
    # A hung broker would hold each for seconds; on a loaded test machine an INSERT may take a while.
    assert times[len(times) // 2] < 0.1 and times[-1] < 1, times
    assert IngestBatch.objects.filter(status="pending").count() == 20  # durable, for the sweep
    assert run.stderr.count("Cannot publish ingest messages") <= 1, run.stderr
