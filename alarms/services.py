"""Raising, clearing and acknowledging alarms.

Evaluation is set-based: each call reads the thresholds, the observations and the open alarms of the sites
concerned in a few queries, decides every transition in memory, and writes them back in bulk.

Each observed value moves its (site, case, kind) alarm through the states with hysteresis and minimum
durations, timed by the observation's own time (the reading's time for telemetry, the clock for staleness):

* no open alarm, value at the raise limit: a pending alarm starts (raised at once if no minimum duration);
* pending, value still at the raise limit for ``raise_after_seconds``: raised (active);
* pending, value off the raise limit: deleted, it was a short spike;
* active, value back at the clear limit for ``clear_after_seconds``: cleared; anything between the two
  limits keeps the alarm and restarts the clear timer.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from alarms import selectors
from alarms.models import Alarm, AlarmKind, format_measure
from pms_site.timefmt import format_datetime

PACK_READING_KINDS = (
    AlarmKind.CELL_OVER_VOLTAGE,
    AlarmKind.CELL_UNDER_VOLTAGE,
    AlarmKind.CELL_DELTA,
    AlarmKind.PACK_TEMPERATURE,
    AlarmKind.FET_TEMPERATURE,
    AlarmKind.FET_OPEN,
)
# Namespace of the advisory locks that serialise evaluations of one site (first key of the two-key form).
SITE_LOCK_NAMESPACE = 4_711


@dataclass(frozen=True)
class Observation:
    """What is known about one subject (a pack, or a whole site when ``case_id`` is None) at ``at``.

    ``values`` maps an alarm kind to the observed value; a kind left out is unknown and changes nothing.
    """

    site_id: int
    case_id: int | None
    subject: str
    at: datetime
    values: dict[str, float]


@dataclass
class _Changes:
    created: list[Alarm] = field(default_factory=list)
    updated: list[Alarm] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)


def pack_observation(*, state: dict[str, Any]) -> Observation:
    """The alarm values of one latest-state row (``selectors.pack_states``): open cells are not measured."""
    cells = [
        volts for number, volts in enumerate(state["cell_volts"], 1) if number not in state["open_cells"]
    ]
    values = {
        AlarmKind.PACK_TEMPERATURE: max(state["temps"]),
        AlarmKind.FET_TEMPERATURE: max(state["fet_temps"]),
        AlarmKind.FET_OPEN: len(state["fet_open"]),
    }
    if cells:
        values |= {
            AlarmKind.CELL_OVER_VOLTAGE: max(cells),
            AlarmKind.CELL_UNDER_VOLTAGE: min(cells),
            AlarmKind.CELL_DELTA: max(cells) - min(cells),
        }
    return Observation(
        site_id=state["site_id"],
        case_id=state["case_id"],
        subject=f"Case {state['case__serial']}",
        at=state["time"],
        values=values,
    )


def pack_alarms_evaluate(*, site_ids: Iterable[int]) -> None:
    """Evaluate the latest state of every pack reporting from ``site_ids`` (call after ingest commits).

    Open pack alarms of these sites for a case that no longer reports from the site (it moved) are closed.
    """
    site_ids = sorted(set(site_ids))
    with transaction.atomic():
        _lock_sites(site_ids)
        _evaluate(
            [pack_observation(state=state) for state in selectors.pack_states(site_ids=site_ids)],
            site_ids=site_ids,
            kinds=PACK_READING_KINDS,
            thresholds=selectors.thresholds_for_sites(site_ids=site_ids),
            now=timezone.now(),
        )


def staleness_alarms_evaluate(*, now: datetime | None = None) -> None:
    """Raise and clear "site stopped reporting" and "pack stopped reporting" (run by a beat task).

    A site is judged once it has reported at all. A pack is judged only while its site still reports (more
    recently than the pack limit), so a silent site raises one site alarm rather than one per pack; the
    silence of a pack counts from its last reading, or from its installation if it never reported.
    """
    now = now or timezone.now()
    site_last = selectors.site_last_reported()
    site_ids = sorted(site_last)
    with transaction.atomic():
        _lock_sites(site_ids)
        thresholds = selectors.thresholds_for_sites(site_ids=site_ids)
        _evaluate(
            [
                Observation(
                    site_id=site_id,
                    case_id=None,
                    subject=f"Site {pms_id}",
                    at=now,
                    values={AlarmKind.SITE_STALE: _minutes_between(last, now)},
                )
                for site_id, (pms_id, last) in site_last.items()
            ],
            site_ids=site_ids,
            kinds=(AlarmKind.SITE_STALE,),
            thresholds=thresholds,
            now=now,
        )
        reporting = [
            site_id
            for site_id, (_, last) in site_last.items()
            if not _site_is_silent(thresholds.get((site_id, AlarmKind.PACK_STALE)), last, now)
        ]
        _evaluate(
            [
                Observation(
                    site_id=pack["site_id"],
                    case_id=pack["case_id"],
                    subject=f"Case {pack['serial']}",
                    at=now,
                    values={AlarmKind.PACK_STALE: _minutes_between(pack["last_seen"], now)},
                )
                for pack in selectors.installed_packs_last_seen(site_ids=reporting)
            ],
            site_ids=reporting,
            kinds=(AlarmKind.PACK_STALE,),
            thresholds=thresholds,
            now=now,
        )


def alarm_acknowledge(*, alarm: Alarm, user: User, at: datetime | None = None) -> Alarm:
    """Record that ``user`` has seen ``alarm``. A pending alarm, or one already acknowledged, is refused."""
    with transaction.atomic():
        locked = Alarm.objects.select_for_update(of=("self",)).select_related("acknowledged_by")
        alarm = locked.get(pk=alarm.pk)
        if alarm.state == Alarm.State.PENDING:
            raise ValidationError(
                {"alarm": "This alarm has not been raised yet, so it cannot be acknowledged."}
            )
        if alarm.acknowledged_at is not None:
            raise ValidationError(
                {
                    "alarm": f"This alarm was already acknowledged by {alarm.acknowledged_by} at "
                    f"{format_datetime(alarm.acknowledged_at)}."
                }
            )
        alarm.acknowledged_by = user
        alarm.acknowledged_at = at or timezone.now()
        alarm.save(update_fields=["acknowledged_by", "acknowledged_at"])
    return alarm


def _minutes_between(earlier, later):
    return max((later - earlier).total_seconds(), 0.0) / 60


def _site_is_silent(pack_stale_threshold, last, now):
    if pack_stale_threshold is None:
        return False
    return _minutes_between(last, now) >= float(pack_stale_threshold.raise_value)


def _lock_sites(site_ids):
    """Serialise evaluations of the same sites (transaction-scoped advisory locks, taken in id order)."""
    if not site_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, site_id)"
            " FROM (SELECT unnest(%s::int[]) AS site_id ORDER BY 1) AS sites",
            [SITE_LOCK_NAMESPACE, sorted(site_ids)],
        )


def _evaluate(observations, *, site_ids, kinds, thresholds, now):
    """Apply ``observations`` to the open alarms of ``kinds`` on ``site_ids``.

    The observations are complete for those sites and kinds: an open alarm with no observation has lost its
    subject (the case left the site) and is closed at ``now``.
    """
    open_alarms = selectors.open_alarms(site_ids=site_ids, kinds=kinds)
    changes = _Changes()
    for observation in observations:
        for kind in kinds:
            threshold = thresholds.get((observation.site_id, kind))
            value = observation.values.get(kind)
            alarm = open_alarms.pop((observation.site_id, observation.case_id, kind), None)
            if value is None:
                continue
            _advance(
                alarm, kind=kind, threshold=threshold, observation=observation, value=value, changes=changes
            )
    for alarm in open_alarms.values():
        _close(alarm, at=now, changes=changes)
    _save(changes)


def _advance(alarm, *, kind, threshold, observation, value, changes):
    """Move one (site, case, kind) alarm on with one observed value; ``threshold`` None: none configured."""
    at = observation.at
    enabled = threshold is not None and threshold.enabled
    if alarm is None:
        if enabled and threshold.raises_at(value):
            alarm = Alarm(
                site_id=observation.site_id,
                case_id=observation.case_id,
                kind=kind,
                severity=threshold.severity,
                condition_since=at,
                peak_value=value,
                last_value=value,
                last_seen_at=at,
            )
            _raise_if_lasted(alarm, threshold=threshold, subject=observation.subject, value=value, at=at)
            changes.created.append(alarm)
        return
    if at <= alarm.last_seen_at:
        return  # Nothing newer than what this alarm has already seen (a re-sent or late batch).
    if not enabled:
        _close(alarm, at=at, changes=changes)
        return
    alarm.last_value, alarm.last_seen_at = value, at
    alarm.peak_value = threshold.worse(alarm.peak_value, value)
    if alarm.state == Alarm.State.PENDING:
        if not threshold.raises_at(value):
            changes.deleted.append(alarm.pk)
            return
        _raise_if_lasted(alarm, threshold=threshold, subject=observation.subject, value=value, at=at)
    elif threshold.clears_at(value):
        alarm.clear_since = alarm.clear_since or at
        if at - alarm.clear_since >= timedelta(seconds=threshold.clear_after_seconds):
            alarm.state, alarm.cleared_at = Alarm.State.CLEARED, at
    else:
        alarm.clear_since = None
    changes.updated.append(alarm)


def _raise_if_lasted(alarm, *, threshold, subject, value, at):
    if at - alarm.condition_since < timedelta(seconds=threshold.raise_after_seconds):
        return
    alarm.state, alarm.raised_at, alarm.value_at_raise = Alarm.State.ACTIVE, at, value
    alarm.message = (
        f"{subject}: {AlarmKind(alarm.kind).label}, {format_measure(alarm.kind, value)} "
        f"(limit {threshold.raise_display})"
    )


def _close(alarm, *, at, changes):
    if alarm.state == Alarm.State.PENDING:
        changes.deleted.append(alarm.pk)
        return
    alarm.state, alarm.cleared_at = Alarm.State.CLEARED, max(at, alarm.raised_at)
    changes.updated.append(alarm)


def _save(changes):
    if changes.deleted:
        Alarm.objects.filter(pk__in=changes.deleted, state=Alarm.State.PENDING).delete()
    if changes.updated:
        Alarm.objects.bulk_update(
            changes.updated,
            [
                "state",
                "raised_at",
                "clear_since",
                "cleared_at",
                "value_at_raise",
                "peak_value",
                "last_value",
                "last_seen_at",
                "message",
            ],
        )
    if changes.created:
        Alarm.objects.bulk_create(changes.created)
