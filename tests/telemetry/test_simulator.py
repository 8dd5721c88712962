"""The simulator: spec-format payloads the pipeline stores whole, one unlogged swap, idempotent backfill."""

import logging
import re
import socket
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Max, Min, Sum
from django.utils import timezone

from assets import services
from assets.models import Kind
from telemetry.management.commands.simulate import Gateway, gateway_token
from telemetry.models import (
    Discrepancy,
    GatewayToken,
    IngestBatch,
    MpptReading,
    PackReading,
    PackRollup1m,
    QuarantinedRecord,
)
from telemetry.services import hash_token
from telemetry.simulation import Simulator, default_swap_at, sample_times, site_layouts
from tests.conftest import wait_until
from tests.factories import AcqBoardFactory, ComponentFactory, build_site

BASIC_ISO = re.compile(r"^\d{8}T\d{6}\.\d{3}[+-]\d{4}$")


def install_device(site, kind, number, device_id, at):
    services.component_install(
        confirm_incomplete=True,
        component=ComponentFactory(kind=kind, configured_id=device_id),
        position=services.site_position_get_or_create(site=site, kind=kind, number=number),
        user=None,
        at=at,
    )


@pytest.fixture
def demo_sites():
    """The demo sites' shape: PMS-01-001 with 2 x 12 docks, PMS-02-001 with 8; its first two cases carry
    older acquisition boards without a configured Case id, so they report the board id."""
    installed = timezone.now() - timedelta(days=3)
    first = build_site(cabinets=2, docks=12, pms_id="PMS-01-001", at=installed)
    second = build_site(cabinets=1, docks=8, pms_id="PMS-02-001", at=installed, time_zone="Asia/Kolkata")
    install_device(first, Kind.MPPT, 1, "IT6415AD-01-001", installed)
    install_device(first, Kind.MPPT, 2, "IT6415AD-01-002", installed)
    install_device(first, Kind.INVERTER, 1, "SPI-B2-01-001", installed)
    install_device(second, Kind.MPPT, 1, "IT6415AD-02-001", installed)
    install_device(second, Kind.INVERTER, 1, "SPI-B2-02-001", installed)
    old_boards = []
    for dock in (1, 2):
        board = AcqBoardFactory(configured_id="")
        case = second.test_cases[(1, dock)]
        position = services.child_position_get(parent=case, kind=Kind.ACQ_BOARD)
        services.component_install(
            confirm_incomplete=True, component=board, position=position, user=None, at=installed
        )
        old_boards.append(board)
    second.test_old_boards = old_boards
    return first, second


@pytest.mark.django_db
def test_payloads_follow_the_spec_format_with_the_sites_local_offset(demo_sites):
    now = timezone.now()
    first_layout, second_layout = site_layouts(now)
    simulator = Simulator([first_layout, second_layout], swap_at=now + timedelta(days=1))

    payload = simulator.payload(second_layout, sample_times(now - timedelta(seconds=10), now))

    pms, mppt, inverter = payload["datasets"]
    assert pms["pms"] == {"id": "PMS-02-001"}
    assert (mppt["mppt"], inverter["inverter"]) == ({"id": "IT6415AD-02-001"}, {"id": "SPI-B2-02-001"})
    assert len(pms["data"]) == 2 * 8
    record = pms["data"][0]
    assert BASIC_ISO.match(record["time_local"]) and record["time_local"].endswith("+0530")
    pack = record["pack"]
    assert isinstance(pack["dock"], int) and isinstance(pack["volts"], str)
    assert len(pack["cell"]["volts"]) == 14 and all(isinstance(v, str) for v in pack["cell"]["volts"])
    assert len(pack["temp"]) == 3 and len(pack["fet"]["temp"]) == 2
    assert sum(float(v) for v in pack["cell"]["volts"]) == pytest.approx(float(pack["volts"]), abs=0.01)
    assert {r["pack"]["id"] for r in pms["data"][:2]} == {b.serial for b in demo_sites[1].test_old_boards}
    assert set(mppt["data"][0]) == {"time_local", "pv", "batt", "load"}


@pytest.mark.django_db
def test_backfill_stores_every_reading_with_one_discrepancy_for_the_unlogged_swap(demo_sites):
    first, _ = demo_sites
    call_command("simulate", backfill_days=0.5, fine_hours=1)

    assert QuarantinedRecord.objects.count() == 0
    assert MpptReading.objects.filter(device__configured_id="IT6415AD-01-002").exists()
    swap_at = default_swap_at(timezone.now())
    mover, taken_out = first.test_cases[(2, 12)], first.test_cases[(2, 11)]
    [discrepancy] = Discrepancy.objects.all()
    assert (discrepancy.case, discrepancy.kind) == (mover, Discrepancy.Kind.OTHER_CASE)
    assert (discrepancy.observed_site, discrepancy.observed_dock) == (first, 23)
    assert (discrepancy.recorded_site, discrepancy.recorded_dock) == (first, 24)
    assert discrepancy.first_seen == swap_at
    assert PackReading.objects.filter(case=taken_out).aggregate(Max("time"))["time__max"] < swap_at

    # The weak cell shows in the rollups: its pack's cells spread far wider than any other pack's.
    spread = dict(
        PackRollup1m.objects.values_list("case_id")
        .annotate(Max("cell_delta_max"))
        .values_list("case_id", "cell_delta_max__max")
    )
    weak = first.test_cases[(1, 3)].id
    assert spread[weak] > 0.05 > max(delta for case_id, delta in spread.items() if case_id != weak)
    assert PackRollup1m.objects.aggregate(Sum("n"))["n__sum"] == PackReading.objects.count()


@pytest.mark.django_db
def test_running_the_backfill_again_stores_nothing_twice(demo_sites):
    call_command("simulate", backfill_days=0.1, fine_hours=0.1)
    first_run = set(PackReading.objects.values_list("case_id", "time"))
    newest = max(time for _, time in first_run)

    call_command("simulate", backfill_days=0.1, fine_hours=0.1)

    # The second run only adds the samples that came due meanwhile, however long that was.
    added = set(PackReading.objects.values_list("case_id", "time")) - first_run
    assert all(time > newest for _, time in added)
    assert Discrepancy.objects.count() <= 1


@pytest.mark.django_db
def test_a_longer_backfill_fills_the_days_before_the_oldest_reading_and_the_gaps(demo_sites, capsys):
    call_command("simulate", backfill_days=0.05, fine_hours=0.05)
    oldest = PackReading.objects.aggregate(Min("time"))["time__min"]
    capsys.readouterr()

    call_command("simulate", backfill_days=0.2, fine_hours=0.05)

    first = PackReading.objects.aggregate(Min("time"))["time__min"]
    assert first < oldest - timedelta(hours=3)
    assert PackReading.objects.filter(time__lt=oldest).count() > 100
    # Off a terminal: a progress line per tenth of the work, then the counts as the last line.
    out, err = capsys.readouterr()
    progress = [line for line in err.splitlines() if re.match(r"Backfill: [\d,]+ of ", line)]
    assert 1 <= len(progress) <= 10 and progress[-1].split(" (")[1].startswith("100%")
    assert re.fullmatch(
        r"Backfill: \d+ readings stored, 0 duplicates, 0 quarantined; .*", out.splitlines()[-1]
    )

    # A gap between stored readings is filled too.
    count = PackReading.objects.count()
    PackReading.objects.filter(
        time__gte=oldest - timedelta(hours=2), time__lt=oldest - timedelta(hours=1)
    ).delete()
    call_command("simulate", backfill_days=0.2, fine_hours=0.05)
    assert PackReading.objects.count() >= count


@pytest.mark.django_db
def test_an_open_fet_shows_for_a_quarter_of_an_hour_every_six_hours(demo_sites):
    [first_layout, _] = site_layouts(timezone.now())
    simulator = Simulator([first_layout], swap_at=timezone.now())
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    payload = simulator.payload(first_layout, sample_times(start, start + timedelta(hours=6), 60))

    open_minutes = {r["time_local"] for r in payload["datasets"][0]["data"] if r["pack"]["fet"]["open"]}
    assert len(open_minutes) == 15


@pytest.mark.django_db
def test_simulate_without_a_mode_or_sites_says_what_is_missing():
    with pytest.raises(CommandError, match="--backfill-days N, --live"):
        call_command("simulate")
    with pytest.raises(CommandError, match="demo_data"):
        call_command("simulate", backfill_days=1)


@pytest.mark.django_db
def test_the_live_gateway_token_is_created_once_and_kept_under_var_secrets(demo_sites, settings, tmp_path):
    settings.SECRETS_DIR = tmp_path
    raw = gateway_token("PMS-01-001")

    assert (tmp_path / "gateway_token_PMS-01-001").read_text() == raw
    assert GatewayToken.objects.get(key_hash=hash_token(raw)).site == demo_sites[0]
    assert gateway_token("PMS-01-001") == raw
    assert GatewayToken.objects.count() == 1


@pytest.mark.django_db
def test_the_live_feed_logs_once_while_the_server_is_down_and_keeps_going(
    demo_sites, settings, tmp_path, caplog
):
    settings.SECRETS_DIR = tmp_path
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    [layout, _] = site_layouts(timezone.now())
    gateway = Gateway(layout, f"http://127.0.0.1:{port}/api/v1/ingest/")
    simulator = Simulator([layout], swap_at=None)

    with caplog.at_level(logging.WARNING):
        gateway.send_sample(simulator, timezone.now())
        gateway.send_sample(simulator, timezone.now())

    [warning] = caplog.records
    assert "not reachable" in warning.getMessage() and str(port) in warning.getMessage()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_live_feed_posts_each_sites_sample_through_http_to_the_worker(
    demo_sites, settings, tmp_path, live_server, celery_worker_process
):
    settings.SECRETS_DIR = tmp_path
    now = timezone.now()
    layouts = site_layouts(now)
    simulator = Simulator(layouts, swap_at=None)

    for layout in layouts:
        Gateway(layout, f"{live_server.url}/api/v1/ingest/").send_sample(simulator, now)

    wait_until(lambda: IngestBatch.objects.filter(status=IngestBatch.Status.DONE).count() == 2)
    [sample_time] = sample_times(now - timedelta(seconds=5), now)
    for site, packs in zip(demo_sites, (24, 8), strict=True):
        assert PackReading.objects.filter(site=site, time=sample_time).count() == packs
    assert QuarantinedRecord.objects.count() == 0
    assert MpptReading.objects.filter(time=sample_time).count() == 3
