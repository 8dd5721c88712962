"""Re-attribution after a late change, end to end with a real Celery worker: readings stored before a
backdated installation record are moved to the case that produced them, their rollups, latest state and
discrepancies follow, and a reading that would overwrite another goes to quarantine."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Sum

from assets import services as asset_services
from assets.models import Installation, Kind, Status
from assets.signals import installations_changed
from telemetry import services
from telemetry.models import (
    Discrepancy,
    PackReading,
    PackRollup1m,
    PackState,
    QuarantinedRecord,
    Reattribution,
)
from telemetry.receivers import follow_installations
from telemetry.rollups import refresh_all_rollups
from telemetry.services import ingest_payload
from tests.conftest import wait_until
from tests.factories import AcqBoardFactory, CaseFactory, ReattributionFactory, build_site
from tests.telemetry.payloads import ago, dataset, envelope, pack_record

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

STEP = timedelta(minutes=5)


def times(start, count):
    return [start + n * STEP for n in range(count)]


def ingest(site, records):
    """Store ``records`` and roll them up, as the worker and beat would have by the time of the change."""
    result = ingest_payload(raw=envelope(dataset("pms", site.pms_id, records)), site=site)
    assert result.quarantined == 0
    refresh_all_rollups(start=ago(days=1), end=ago(seconds=0))


def all_done():
    reattributions = list(Reattribution.objects.all())
    if reattributions and all(r.status == Reattribution.Status.DONE for r in reattributions):
        return reattributions
    return None


def readings(case, start=None, end=None):
    query = PackReading.objects.filter(case=case)
    if start is not None:
        query = query.filter(time__gte=start)
    if end is not None:
        query = query.filter(time__lt=end)
    return query.count()


def rolled_up(case):
    return PackRollup1m.objects.filter(case=case).aggregate(n=Sum("n"))["n"] or 0


def board_in(case, at):
    board = AcqBoardFactory()
    asset_services.component_install(
        component=board,
        position=asset_services.child_position_get(parent=case, kind=Kind.ACQ_BOARD),
        user=None,
        at=at,
    )
    return board


def move_board(board, to_case, at):
    """The move an engineer records late: out of its case, into ``to_case``, at ``at``, in one go."""
    with transaction.atomic():
        asset_services.component_remove(component=board, user=None, reason="moved", at=at)
        asset_services.component_install(
            component=board,
            position=asset_services.child_position_get(parent=to_case, kind=Kind.ACQ_BOARD),
            user=None,
            at=at,
        )


def test_a_board_moved_by_a_backdated_record_takes_its_readings_to_the_case_it_was_in(celery_worker_process):
    site = build_site(docks=4, at=ago(days=3))
    case_a, case_b = site.test_cases[(1, 1)], site.test_cases[(1, 2)]
    board = board_in(case_a, ago(days=2))
    moved_at = ago(hours=3)
    before, after = times(moved_at - 12 * STEP, 12), times(moved_at, 24)
    # The board really went to case B (dock 2) at moved_at; nobody recorded it yet.
    ingest(site, [pack_record(board.serial, 1, at) for at in before])
    ingest(site, [pack_record(board.serial, 2, at) for at in after])
    assert (readings(case_a), readings(case_b), rolled_up(case_a)) == (36, 0, 36)
    wrong = Discrepancy.objects.get(case=case_a, observed_dock=2, status="open")
    assert wrong.sample_count == 24

    move_board(board, case_b, moved_at)
    done = wait_until(all_done, timeout=60)

    assert (readings(case_a), readings(case_a, start=moved_at)) == (12, 0)
    assert (readings(case_b), readings(case_b, start=moved_at)) == (24, 24)
    assert PackReading.objects.filter(case=case_b, board=board).count() == 24
    assert (rolled_up(case_a), rolled_up(case_b)) == (12, 24)
    assert PackState.objects.get(case=case_a).time == before[-1]
    assert (PackState.objects.get(case=case_b).time, PackState.objects.get(case=case_b).dock) == (
        after[-1],
        2,
    )
    wrong.refresh_from_db()
    assert wrong.status == "resolved"
    assert wrong.resolved_with.component_id == board.id
    assert not Discrepancy.objects.filter(status="open").exists()
    assert sum(r.readings_moved for r in done) == 24
    assert sum(r.readings_quarantined for r in done) == 0
    assert {key: count for r in done for key, count in r.moves.items()} == {f"{case_a.id}>{case_b.id}": 24}
    assert all(r.window_end > ago(seconds=0) and r.changed_at == moved_at for r in done)


def test_a_backdated_removal_quarantines_the_readings_of_a_board_in_no_case_and_flags_a_case_seen_after(
    celery_worker_process,
):
    site = build_site(docks=4, at=ago(days=3))
    case_a, case_c = site.test_cases[(1, 1)], site.test_cases[(1, 3)]
    board = board_in(case_a, ago(days=2))
    removed_at = ago(hours=2)
    window = times(removed_at - 6 * STEP, 18)  # 6 before the removal, 12 from it on
    ingest(site, [pack_record(board.serial, 1, at) for at in window])
    ingest(site, [pack_record(case_c.serial, 3, at) for at in window])
    assert rolled_up(case_a) == 18

    asset_services.component_remove(component=board, user=None, reason="faulty", at=removed_at)
    asset_services.component_remove(
        component=case_c, user=None, reason="to the workshop", new_status=Status.IN_STOCK, at=removed_at
    )
    wait_until(all_done, timeout=60)

    assert (readings(case_a, end=removed_at), readings(case_a, start=removed_at)) == (6, 0)
    quarantined = QuarantinedRecord.objects.filter(device_id=site.pms_id)
    assert quarantined.count() == 12
    assert all(f"acquisition board {board.serial} was in no case" in q.reason for q in quarantined)
    assert rolled_up(case_a) == 6
    # Case C's readings stay its own; the records no longer put it in dock 3 after its removal.
    assert (readings(case_c, end=removed_at), readings(case_c, start=removed_at)) == (6, 12)
    flagged = Discrepancy.objects.get(case=case_c, status="open")
    assert (flagged.observed_dock, flagged.sample_count) == (3, 12)
    assert (flagged.first_seen, flagged.last_seen) == (window[6], window[-1])
    assert (flagged.recorded_site_id, flagged.recorded_dock) == (None, None)


def test_a_backdated_swap_explains_and_resolves_the_open_discrepancy(celery_worker_process):
    site = build_site(docks=4, at=ago(days=3))
    recorded = site.test_cases[(1, 4)]
    newcomer = CaseFactory()
    swapped_at = ago(hours=1)
    # The newcomer was put in dock 4 at swapped_at and reports from there; the records still say `recorded`.
    ingest(site, [pack_record(newcomer.serial, 4, at) for at in times(swapped_at, 10)])
    unlogged = Discrepancy.objects.get(case=newcomer, status="open")
    assert (unlogged.observed_dock, unlogged.sample_count) == (4, 10)

    installation = asset_services.component_swap(
        position=site.test_docks[(1, 4)],
        old_component=recorded,
        new_component=newcomer,
        user=None,
        reason="swap recorded late",
        old_component_status=Status.IN_STOCK,
        at=swapped_at,
        confirm_incomplete=True,
    )
    [done] = wait_until(all_done, timeout=60)

    unlogged.refresh_from_db()
    assert (unlogged.status, unlogged.resolved_with_id) == ("resolved", installation.id)
    # The swap itself resolved it (telemetry/receivers.py); the re-attribution finds nothing left to explain.
    assert (done.component_id, done.discrepancies_resolved, done.discrepancies_opened) == (newcomer.id, 0, 0)
    assert (done.readings_moved, readings(newcomer, start=swapped_at)) == (0, 10)
    assert not Discrepancy.objects.filter(status="open").exists()


def test_a_reading_that_would_land_on_a_stored_one_goes_to_quarantine_with_both_values(celery_worker_process):
    site = build_site(docks=4, at=ago(days=3))
    case_a, case_b = site.test_cases[(1, 1)], site.test_cases[(1, 2)]
    board = board_in(case_a, ago(days=2))
    moved_at = ago(hours=2)
    window = times(moved_at, 12)
    ingest(site, [pack_record(board.serial, 2, at, volts="51.5") for at in window])
    # Case B also reported by its own Case id at the first 4 of those instants.
    ingest(site, [pack_record(case_b.serial, 2, at, volts="53.25") for at in window[:4]])
    assert (rolled_up(case_a), rolled_up(case_b)) == (12, 4)

    move_board(board, case_b, moved_at)
    done = wait_until(all_done, timeout=60)

    assert (readings(case_a), readings(case_b)) == (0, 12)
    assert PackReading.objects.filter(case=case_b, board=board).count() == 8
    assert PackReading.objects.filter(case=case_b, board=None, volts=53.25).count() == 4
    collisions = QuarantinedRecord.objects.filter(device_id=site.pms_id).order_by("id")
    assert collisions.count() == 4
    assert f"case {case_b.serial} already has a reading then (volts 53.25" in collisions[0].reason
    assert "this one (volts 51.5" in collisions[0].reason
    assert board.serial in collisions[0].record
    assert sum(r.readings_quarantined for r in done) == 4
    assert sum(r.readings_moved for r in done) == 8
    assert (rolled_up(case_a), rolled_up(case_b)) == (0, 12)
    assert not Discrepancy.objects.filter(case=case_a, status="open").exists()


def test_a_reattribution_whose_message_was_lost_is_queued_again_by_the_sweep_and_finishes(
    celery_worker_process, settings
):
    site = build_site(docks=4, at=ago(days=3))
    case_a, case_b = site.test_cases[(1, 1)], site.test_cases[(1, 2)]
    board = board_in(case_a, ago(days=2))
    moved_at = ago(hours=1)
    ingest(site, [pack_record(board.serial, 2, at) for at in times(moved_at, 6)])
    # The move is recorded while no message can be sent (the receiver is away): nothing is queued.
    installations_changed.disconnect(dispatch_uid="telemetry.follow_installations")
    try:
        move_board(board, case_b, moved_at)
    finally:
        installations_changed.connect(follow_installations, dispatch_uid="telemetry.follow_installations")
    installation = Installation.objects.get(component=board, removed_at=None)
    lost = ReattributionFactory(
        installation=installation, cases=[case_a.id, case_b.id], updated_at=ago(minutes=5)
    )
    recent = ReattributionFactory(installation=installation, cases=[case_b.id], status="done")
    settings.REATTRIBUTION_SWEEP_AFTER = timedelta(minutes=2)

    assert services.reattributions_requeue_stale() == 1
    wait_until(all_done, timeout=60)

    lost.refresh_from_db()
    assert (lost.readings_moved, lost.discrepancies_resolved) == (6, 1)
    assert (readings(case_a), readings(case_b)) == (0, 6)
    assert services.reattributions_requeue_stale() == 0
    recent.refresh_from_db()
    assert recent.readings_moved == 0
