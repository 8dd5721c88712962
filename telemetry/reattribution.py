"""Re-attribution after a late change: an installation record whose time lies in the past corrects the
readings stored before it was recorded.

Ingest resolves each reading with the records as they are when it is stored. When a change with a time T in
the past commits (a case installed, removed or swapped, an acquisition board moved between cases; the assets
signal ``installations_changed``), the readings already stored from T on may be wrong:

* a reading that arrived keyed by an acquisition board's id (its ``board_id``) follows the board to the
  case that held it at the reading's time. If no case held it, or that case already has a reading at that
  instant, the reading is never overwritten nor kept where it was: it goes to quarantine with the reason
  (and, for a collision, the stored reading's values);
* a reading keyed by its Case id stays with its case, but where the records put the case has changed: the
  discrepancies of the affected cases are re-evaluated (telemetry/discrepancies.py).

``reattribution_queue`` records a Reattribution and queues ``telemetry.reattribute_readings``; each task
runs ``reattribution_step``: one day of the board's readings in one transaction (moved, rollups of the
cases concerned recomputed), then the task queues itself for the next day, so ingest tasks run between
chunks. The last step recomputes the latest state of the cases whose readings moved, re-evaluates their
discrepancies and marks the re-attribution done. Every step is idempotent: a reading already under the
case that held its board is left alone, and the progress is saved in the chunk's own transaction.
"""

from datetime import UTC, datetime, timedelta
from datetime import timezone as fixed_offset

import msgspec
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from assets.models import Component, Installation, Kind
from telemetry.discrepancies import discrepancies_reevaluate
from telemetry.ingest.copy import PACK_COLUMNS
from telemetry.models import PackReading, PackState, QuarantinedRecord, Reattribution
from telemetry.queue import reattribution_enqueue
from telemetry.rollups import pack_rollups_refresh_cases

CHUNK = timedelta(days=1)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
READINGS = PackReading._meta.db_table
STATE_COLUMNS = [column for column in PACK_COLUMNS if column not in ("board_id", "batch_id")]

# The case that held the board at {time}, by the records as they are now: its stays, loaded beforehand
# (a handful) and given as arrays, cost far less per reading than an index lookup each.
CASE_OF_BOARD_AT = """(
    SELECT stay.case_id FROM unnest(%(stay_cases)s::bigint[], %(stay_starts)s::timestamptz[],
        %(stay_ends)s::timestamptz[]) AS stay(case_id, since, until)
    WHERE {time} >= stay.since AND (stay.until IS NULL OR {time} < stay.until)
)"""
COLUMNS = ", ".join(PACK_COLUMNS)
MOVE_SQL = f"""
WITH taken AS (
    DELETE FROM {READINGS} r
    WHERE r.case_id = ANY(%(cases)s) AND r.board_id = %(board)s AND r.time >= %(start)s AND r.time < %(end)s
        AND r.case_id IS DISTINCT FROM {CASE_OF_BOARD_AT.format(time="r.time")}
    RETURNING {COLUMNS}
)
INSERT INTO reattributed ({COLUMNS}, new_case_id)
SELECT {COLUMNS}, {CASE_OF_BOARD_AT.format(time="taken.time")} FROM taken
"""
STORE_SQL = f"""
WITH stored AS (
    INSERT INTO {READINGS} ({COLUMNS})
    SELECT {COLUMNS.replace("case_id", "new_case_id")} FROM reattributed WHERE new_case_id IS NOT NULL
    ON CONFLICT DO NOTHING RETURNING case_id, time
)
UPDATE reattributed SET stored = true FROM stored
WHERE reattributed.new_case_id = stored.case_id AND reattributed.time = stored.time
"""
LEFT_OVER_SQL = f"""
SELECT moved.time, moved.utc_offset_minutes, moved.dock, moved.volts, moved.amps, moved.temps,
    moved.cell_volts, moved.open_cells, moved.fet_open, moved.fet_temps, batch.id, site.pms_id, board.serial,
    old_case.serial, new_case.serial, stored.volts, stored.amps, stored.cell_volts
FROM reattributed moved
JOIN assets_site site ON site.id = moved.site_id
JOIN assets_component board ON board.id = moved.board_id
JOIN assets_component old_case ON old_case.id = moved.case_id
LEFT JOIN assets_component new_case ON new_case.id = moved.new_case_id
LEFT JOIN LATERAL (
    SELECT volts, amps, cell_volts FROM {READINGS} here
    WHERE here.case_id = moved.new_case_id AND here.time = moved.time
        AND here.time >= %(start)s AND here.time < %(end)s
) AS stored ON true
LEFT JOIN telemetry_ingestbatch batch ON batch.id = moved.batch_id
WHERE NOT moved.stored
ORDER BY moved.time
"""
STATE_UPDATES = ", ".join(
    f"{column} = EXCLUDED.{column}" for column in [*STATE_COLUMNS, "updated_at"] if column != "case_id"
)
STATE = PackState._meta.db_table
# Each case's newest reading as its latest state: unless ingest has just stored a newer one.
STATE_SQL = f"""
INSERT INTO {STATE} ({", ".join(STATE_COLUMNS)}, updated_at)
SELECT {", ".join(f"newest.{column}" for column in STATE_COLUMNS)}, now()
FROM unnest(%(cases)s::bigint[]) AS affected(id)
CROSS JOIN LATERAL (
    SELECT * FROM {READINGS} r WHERE r.case_id = affected.id ORDER BY r.time DESC LIMIT 1
) AS newest
ON CONFLICT (case_id) DO UPDATE SET {STATE_UPDATES} WHERE {STATE}.time < EXCLUDED.time
"""


def reattribution_queue(*, installation: Installation, at: datetime, user) -> Reattribution | None:
    """After a change to ``installation`` at ``at`` has committed: record and queue its re-attribution if
    it concerns stored readings (readings of its case, or keyed by its acquisition board, from ``at`` on).
    Returns the Reattribution, or None when there is nothing to re-check."""
    component = installation.component
    if component.kind == Kind.ACQ_BOARD:
        cases = _cases_ever_holding(component, at)
        readings = PackReading.objects.filter(case_id__in=cases, board_id=component.pk, time__gte=at)
    elif component.kind == Kind.CASE:
        cases = [component.pk]
        readings = PackReading.objects.filter(case_id=component.pk, time__gte=at)
    else:
        return None
    if not readings.exists():
        return None
    reattribution = Reattribution.objects.create(
        installation=installation,
        component=component,
        changed_at=at,
        window_end=timezone.now() + settings.TELEMETRY_MAX_FUTURE,
        next_start=at,
        cases=cases,
        user=user,
        updated_at=timezone.now(),
    )
    reattribution_enqueue(reattribution.pk)
    return reattribution


def reattributions_requeue_stale() -> int:
    """Queue again each running re-attribution whose message was lost: no step for
    REATTRIBUTION_SWEEP_AFTER. Returns how many."""
    now = timezone.now()
    stale = Reattribution.objects.filter(
        status=Reattribution.Status.RUNNING, updated_at__lt=now - settings.REATTRIBUTION_SWEEP_AFTER
    )
    ids = list(stale.values_list("pk", flat=True))
    Reattribution.objects.filter(pk__in=ids).update(updated_at=now)
    for reattribution_id in ids:
        reattribution_enqueue(reattribution_id)
    return len(ids)


def _cases_ever_holding(board, at):
    """The cases any recorded version (history included) puts ``board`` in from ``at`` on: where its
    readings may have been stored."""
    versions = Installation.history.filter(component_id=board.pk).filter(
        Q(removed_at__isnull=True) | Q(removed_at__gt=at)
    )
    positions = versions.values_list("position_id", flat=True).distinct()
    return sorted(
        Component.objects.filter(kind=Kind.CASE, child_positions__in=positions)
        .values_list("pk", flat=True)
        .distinct()
    )


def reattribution_step(*, reattribution_id: int) -> bool:
    """Do the next step of a running re-attribution, in one transaction: a chunk of the board's readings, or
    the end. True when there is more to do. A step another worker is doing, or a finished re-attribution,
    is skipped."""
    with transaction.atomic():
        reattribution = (
            Reattribution.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=reattribution_id, status=Reattribution.Status.RUNNING)
            .select_related("component", "installation", "user")
            .first()
        )
        if reattribution is None:
            return False
        start = reattribution.next_start
        if reattribution.component.kind == Kind.ACQ_BOARD and start < reattribution.window_end:
            end = min(start - (start - EPOCH) % CHUNK + CHUNK, reattribution.window_end)
            _move_board_readings(reattribution, start, end)
            reattribution.next_start = end
            reattribution.updated_at = timezone.now()
            reattribution.save()
            return True
        _finish(reattribution)
        return False


def _move_board_readings(reattribution, start, end):
    """Move the board's readings in [start, end) to the case that held it at each one's time."""
    board = reattribution.component
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS reattributed (LIKE {READINGS}, new_case_id bigint, "
            "stored boolean NOT NULL DEFAULT false) ON COMMIT DELETE ROWS"
        )
        stays = Installation.objects.filter(component=board).values_list(
            "position__parent_id", "installed_at", "removed_at"
        )
        window = {
            "cases": reattribution.cases,
            "board": board.pk,
            "start": start,
            "end": end,
            "stay_cases": [case_id for case_id, _, _ in stays],
            "stay_starts": [since for _, since, _ in stays],
            "stay_ends": [until for _, _, until in stays],
        }
        cursor.execute(MOVE_SQL, window)
        if not cursor.rowcount:
            return
        cursor.execute("ANALYZE reattributed")  # a temporary table has no statistics otherwise
        cursor.execute(STORE_SQL)
        cursor.execute("SELECT case_id, new_case_id, stored, count(*) FROM reattributed GROUP BY 1, 2, 3")
        moves = cursor.fetchall()
        left_over = []
        if any(not stored for _, _, stored, _ in moves):
            cursor.execute(LEFT_OVER_SQL, window)
            left_over = cursor.fetchall()
    QuarantinedRecord.objects.bulk_create(_quarantined(row, reattribution) for row in left_over)
    for old_case, new_case, stored, count in moves:
        key = f"{old_case}>{new_case if stored else ''}"
        reattribution.moves[key] = reattribution.moves.get(key, 0) + count
        if stored:
            reattribution.readings_moved += count
        else:
            reattribution.readings_quarantined += count
    touched = {case for old_case, new_case, stored, _ in moves for case in (old_case, new_case) if case}
    pack_rollups_refresh_cases(case_ids=sorted(touched), start=start, end=end)


def _quarantined(row, reattribution):
    """A QuarantinedRecord of a reading that could not follow its board: the record as the gateway sent it
    (replayable once the records are fixed), and why."""
    (moment, offset, dock, volts, amps, temps, cell_volts, open_cells, fet_open, fet_temps, batch_id, pms_id,
     board, old_case, new_case, stored_volts, stored_amps, stored_cells) = row  # fmt: skip
    local = moment.astimezone(fixed_offset(timedelta(minutes=offset)))
    record = {
        "time_local": local.isoformat(),
        "pack": {
            "id": board,
            "dock": dock,
            "volts": volts,
            "amps": amps,
            "temp": temps,
            "cell": {"volts": cell_volts, "open": open_cells},
            "fet": {"temp": fet_temps, "open": fet_open},
        },
    }
    change = f"re-attributed after the late change to {reattribution.installation}"
    if new_case is None:
        reason = (
            f"{change}: acquisition board {board} was in no case at {local.isoformat()}, so the reading "
            f"stored under case {old_case} belongs to none"
        )
    else:
        reason = (
            f"{change}: acquisition board {board} was in case {new_case} at {local.isoformat()}, but case "
            f"{new_case} already has a reading then (volts {stored_volts}, amps {stored_amps}, cell volts "
            f"{stored_cells}); this one (volts {volts}, amps {amps}) was stored under case {old_case}"
        )
    return QuarantinedRecord(
        batch_id=batch_id,
        kind="pms",
        device_id=pms_id,
        dataset_index=0,
        record_index=0,
        record=msgspec.json.encode(record).decode(),
        reason=reason,
    )


def _finish(reattribution):
    moved_cases = sorted({int(case) for key in reattribution.moves for case in key.split(">") if case})
    if moved_cases:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {STATE} WHERE case_id = ANY(%(cases)s)", {"cases": moved_cases})
            cursor.execute(STATE_SQL, {"cases": moved_cases})
    opened, resolved = discrepancies_reevaluate(
        case_ids=sorted(set(reattribution.cases) | set(moved_cases)),
        start=reattribution.changed_at,
        installation=reattribution.installation,
        user=reattribution.user,
    )
    reattribution.discrepancies_opened = opened
    reattribution.discrepancies_resolved = resolved
    reattribution.status = Reattribution.Status.DONE
    reattribution.finished_at = reattribution.updated_at = timezone.now()
    reattribution.save()
