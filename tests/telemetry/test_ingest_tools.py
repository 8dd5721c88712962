"""Quarantine replay, ingest_file, the admin pages and the series selectors."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from pms_site.celery import app as celery_app
from telemetry.models import (
    Discrepancy,
    IngestBatch,
    PackReading,
    PackRollup1h,
    PackRollup1m,
    QuarantinedRecord,
)
from telemetry.queue import PROCESS_BATCH_TASK
from telemetry.services import ingest_payload, quarantine_replay
from tests.conftest import wait_until
from tests.factories import CaseFactory, UserFactory, build_site
from tests.telemetry.payloads import ago, dataset, envelope, pack_record, site_sample

pytestmark = pytest.mark.django_db


def quarantine_unknown_case():
    """A site whose dock 4 reports a case the warehouse has not received yet; returns the site."""
    at = ago(minutes=5)
    site = build_site(docks=4, at=ago(days=2))
    records = [pack_record(case.serial, dock, at) for (_, dock), case in sorted(site.test_cases.items())]
    records[3]["pack"]["id"] = "NEW-0001"
    result = ingest_payload(raw=envelope(dataset("pms", site.pms_id, records)), site=site)
    assert (result.stored, result.quarantined) == (3, 1)
    return site


def test_a_replay_stores_a_record_once_the_master_data_knows_its_case():
    site = quarantine_unknown_case()
    record = QuarantinedRecord.objects.get()
    assert "'NEW-0001' is neither a known Case id" in record.reason

    not_yet = quarantine_replay(records=[record])
    record.refresh_from_db()
    assert (not_yet.resolved, not_yet.still_quarantined, record.resolved) == (0, 1, False)
    assert record.reason.startswith("datasets[0].data[3].pack.id: 'NEW-0001'")

    case = CaseFactory(serial="NEW-0001")
    outcome = quarantine_replay(records=[record])

    record.refresh_from_db()
    assert (outcome.resolved, outcome.still_quarantined, record.resolved) == (1, 0, True)
    assert record.replayed_at is not None
    reading = PackReading.objects.get(case=case)
    assert (reading.site_id, reading.dock) == (site.id, 4)
    # Not installed anywhere yet: stored against the case, flagged for the field engineers.
    assert Discrepancy.objects.get(case=case).kind == Discrepancy.Kind.NOT_INSTALLED


def test_the_replay_command_and_admin_action_resolve_what_they_can(admin_client):
    quarantine_unknown_case()
    record = QuarantinedRecord.objects.get()

    out = io.StringIO()
    call_command("replay_quarantine", "--kind", "pms", stdout=out)
    lines = out.getvalue().splitlines()
    # Why it is still there, without the record's place; the counts as the last line.
    assert lines[0] == "Still quarantined, by reason:"
    assert lines[1].startswith("  1: pack.id: 'NEW-0001' is neither a known Case id")
    assert lines[-1] == "0 records stored or already present; 1 still quarantined."

    CaseFactory(serial="NEW-0001")
    response = admin_client.post(
        "/admin/telemetry/quarantinedrecord/",
        {"action": "replay", "_selected_action": [record.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 record stored or already present;" in response.content.decode()
    record.refresh_from_db()
    assert record.resolved


def test_ingest_file_stores_json_lines_and_reports_counts_and_progress(tmp_path, capsys):
    site = build_site(docks=4, at=ago(days=2))
    lines = [site_sample(site, ago(minutes=minutes)) for minutes in (3, 2, 1)]
    path = tmp_path / "backfill.jsonl"
    path.write_bytes(b"\n".join([*lines, lines[0]]) + b"\n")

    out = io.StringIO()
    call_command("ingest_file", str(path), stdout=out, stderr=io.StringIO())

    assert (
        "4 payloads: 12 readings stored, 4 duplicates, 0 quarantined, 0 rejected." in out.getvalue()
    )
    # Off a terminal, progress is a plain line per tenth of the work.
    assert capsys.readouterr().err.splitlines()[-1].startswith("Ingest: 4 of 4 payloads (100%)")
    assert PackReading.objects.count() == 12
    assert set(IngestBatch.objects.values_list("status", "source")) == {("done", "file")}


def test_ingest_file_refuses_a_line_whose_keys_repeat_which_the_endpoint_would_have_refused(tmp_path):
    site = build_site(docks=4, at=ago(days=2))
    sample = site_sample(site, ago(minutes=1))
    repeated = sample.replace(b'{"datasets": ', b'{"datasets": [], "datasets": ', 1)
    assert repeated != sample
    path = tmp_path / "backfill.jsonl"
    path.write_bytes(repeated + b"\n" + sample + b"\n")
    errors = io.StringIO()

    with pytest.raises(CommandError, match="1 payload rejected; see the messages above"):
        call_command("ingest_file", str(path), stdout=io.StringIO(), stderr=errors)

    assert "body: the key 'datasets' is given 2 times; give it once" in errors.getvalue()
    assert PackReading.objects.count() == 4


def tasks_run_by(worker, name):
    """How many ``name`` tasks the worker has run since it started (its solo pool answers between tasks)."""
    inspector = celery_app.control.inspect(destination=[worker.hostname], timeout=1)
    return wait_until(inspector.stats)[worker.hostname]["total"].get(name, 0)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_ingest_file_lands_like_the_endpoint_and_a_worker_prompted_by_it_finds_the_batch_done(
    tmp_path, celery_worker_process
):
    site = build_site(docks=4, at=ago(days=2))
    path = tmp_path / "backfill.jsonl"
    path.write_bytes(b"\n".join(site_sample(site, ago(minutes=minutes)) for minutes in (2, 1)))
    before = tasks_run_by(celery_worker_process, PROCESS_BATCH_TASK)

    call_command("ingest_file", str(path), stdout=io.StringIO())

    wait_until(lambda: tasks_run_by(celery_worker_process, PROCESS_BATCH_TASK) == before + 2)
    assert list(IngestBatch.objects.values_list("source", "status", "attempts")) == [("file", "done", 1)] * 2
    assert PackReading.objects.filter(site=site).count() == 8


def test_ingest_file_brings_the_rollups_of_a_backfill_up_to_date(tmp_path):
    site = build_site(docks=4, at=ago(days=5))
    last_week = [site_sample(site, ago(days=3, minutes=minutes)) for minutes in (62, 61, 2)]
    path = tmp_path / "backfill.jsonl"
    path.write_bytes(b"\n".join(last_week))

    out = io.StringIO()
    call_command("ingest_file", str(path), stdout=out)

    assert "Rollups refreshed from" in out.getvalue()
    assert PackRollup1m.objects.filter(site=site).count() == 3 * 4
    assert PackRollup1h.objects.filter(site=site).count() == 2 * 4


def test_ingest_file_reads_one_pretty_printed_envelope_from_stdin(monkeypatch):
    site = build_site(docks=4, at=ago(days=2))
    pretty = json.dumps(json.loads(site_sample(site, ago(minutes=1))), indent=2).encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(pretty)))

    out = io.StringIO()
    call_command("ingest_file", "-", stdout=out)

    assert "1 payload: 4 readings stored" in out.getvalue()


def test_ingest_file_names_a_rejected_payload_and_fails(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b'{"datasets": [{"pms": {"id": "P"}}]}')
    err = io.StringIO()

    with pytest.raises(CommandError, match="1 payload rejected; see the messages above"):
        call_command("ingest_file", str(path), stdout=io.StringIO(), stderr=err)

    assert "datasets[0]: object missing required field `data`" in err.getvalue()


def test_ingest_file_reports_a_missing_file():
    with pytest.raises(CommandError, match="No such file"):
        call_command("ingest_file", "/nonexistent/backfill.json")


@pytest.mark.parametrize(
    "page",
    [
        "ingestbatch",
        "quarantinedrecord",
        "discrepancy",
        "packstate",
        "devicestate",
        "gatewaytoken",
    ],
)
def test_the_admin_lists_telemetry_for_superusers_and_not_for_plain_staff(client, admin_client, page):
    quarantine_unknown_case()
    assert admin_client.get(f"/admin/telemetry/{page}/").status_code == 200
    client.force_login(UserFactory(is_staff=True))
    assert client.get(f"/admin/telemetry/{page}/").status_code == 403


def test_a_gateway_token_made_in_the_admin_is_shown_once(admin_client):
    site = build_site(docks=4, at=ago(days=2))
    response = admin_client.post(
        "/admin/telemetry/gatewaytoken/add/", {"site": site.pk, "name": "roof"}, follow=True
    )
    assert response.status_code == 200
    assert "copy it now; it is stored only as a hash" in response.content.decode()
    assert site.gateway_tokens.get().name == "roof"


def test_the_admin_resolves_the_selected_open_discrepancies_naming_who_and_when(admin_client):
    quarantine_unknown_case()
    CaseFactory(serial="NEW-0001")
    quarantine_replay(records=QuarantinedRecord.objects.all())
    discrepancy = Discrepancy.objects.get()

    response = admin_client.post(
        "/admin/telemetry/discrepancy/",
        {"action": "resolve", "_selected_action": [discrepancy.pk]},
        follow=True,
    )

    assert "Resolved 1 discrepancy." in response.content.decode()
    discrepancy.refresh_from_db()
    assert discrepancy.status == Discrepancy.Status.RESOLVED
    assert discrepancy.resolved_by.username == "admin" and discrepancy.resolved_at is not None
