"""Discrepancies between what the packs report and the installation records: resolving them."""

from collections.abc import Sequence
from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from assets.models import Component, Installation, Kind, Position
from assets.selectors import dock_at, installation_at, location_of_component, location_of_position
from assets.services import component_install, component_swap
from telemetry.ingest.resolve import recorded_positions, value_at
from telemetry.models import Discrepancy

# Installations of these kinds can change where the records put a case, or which docks a PMS has.
PLACING_KINDS = (Kind.CASE, Kind.BUSBAR, Kind.CABINET)


def discrepancy_kind(
    *, case_id: int, site_id: int, pms_dock: int, recorded_site_id: int | None, at: datetime
) -> str:
    """What the records say at ``at`` about case ``case_id`` seen in PMS-wide dock ``pms_dock`` of site
    ``site_id``, where they put it on ``recorded_site_id`` (None: on no site): a Discrepancy.Kind. The dock
    first, then the case's own record, then the dock's occupant."""
    dock = dock_at(site=site_id, pms_dock=pms_dock, at=at)
    if dock is None:
        return Discrepancy.Kind.UNKNOWN_DOCK
    if recorded_site_id is None:
        return Discrepancy.Kind.NOT_INSTALLED
    if recorded_site_id != site_id:
        return Discrepancy.Kind.OTHER_SITE
    occupant = installation_at(position=dock, at=at)
    if occupant is not None and occupant.component_id != case_id:
        return Discrepancy.Kind.OTHER_CASE
    return Discrepancy.Kind.OTHER_DOCK


def discrepancies_follow_installations(*, installations: Sequence[Installation]) -> None:
    """Bring the open discrepancies up to date with ``installations``, just opened or closed by any path:
    each one an installation explains (its case installed in the dock it was seen in, still there or until
    after the first sighting) is resolved with it, by whoever recorded it; the others of the same cases and
    sites get what the records now say (kind, recorded place)."""
    placing = [installation for installation in installations if installation.component_kind in PLACING_KINDS]
    if not placing:
        return
    now = timezone.now()
    cases, sites, explained = set(), set(), {}
    for installation in placing:
        location = location_of_position(position=installation.position, at=installation.installed_at)
        if location.site is not None:
            sites.add(location.site.pk)
        if installation.component_kind == Kind.CASE:
            cases.add(installation.component_id)
            if location.site is not None:
                explained[(installation.component_id, location.site.pk, location.pms_dock)] = installation
    affected = Discrepancy.objects.select_for_update(of=("self",)).filter(
        Q(case__in=cases) | Q(observed_site__in=sites), status=Discrepancy.Status.OPEN
    )
    for discrepancy in affected.select_related("case"):
        installation = explained.get(
            (discrepancy.case_id, discrepancy.observed_site_id, discrepancy.observed_dock)
        )
        if installation is not None and (
            installation.removed_at is None or installation.removed_at > discrepancy.first_seen
        ):
            _resolve(discrepancy, installation=installation, user=installation.installed_by)
            continue
        recorded = location_of_component(component=discrepancy.case, at=now)
        discrepancy.recorded_site = recorded.site if recorded else None
        discrepancy.recorded_dock = recorded.pms_dock if recorded else None
        discrepancy.kind = discrepancy_kind(
            case_id=discrepancy.case_id,
            site_id=discrepancy.observed_site_id,
            pms_dock=discrepancy.observed_dock,
            recorded_site_id=discrepancy.recorded_site_id,
            at=now,
        )
        discrepancy.save(update_fields=["kind", "recorded_site", "recorded_dock"])


def _resolve(discrepancy, *, installation, user):
    discrepancy.status = Discrepancy.Status.RESOLVED
    discrepancy.resolved_by = user
    discrepancy.resolved_at = timezone.now()
    discrepancy.resolved_with = installation
    discrepancy.save(update_fields=["status", "resolved_by", "resolved_at", "resolved_with"])


def discrepancies_resolve(*, discrepancies: QuerySet[Discrepancy], user: User | None) -> int:
    """Mark the open ones of ``discrepancies`` (a queryset) resolved by ``user`` now. Returns how many."""
    return discrepancies.filter(status=Discrepancy.Status.OPEN).update(
        status=Discrepancy.Status.RESOLVED, resolved_by=user, resolved_at=timezone.now()
    )


def discrepancy_check_record(*, discrepancy: Discrepancy, case: Component, position: Position) -> None:
    """Refuse (ValidationError on ``discrepancy``) unless installing ``case`` at ``position`` records what the
    open ``discrepancy`` saw: that case, in that dock of that site."""
    if discrepancy.status != Discrepancy.Status.OPEN:
        raise ValidationError({"discrepancy": "This discrepancy is resolved already; nothing to resolve."})
    location = location_of_position(position=position)
    recorded = (case.pk, location.site.pk if location.site else None, location.pms_dock)
    if recorded != (discrepancy.case_id, discrepancy.observed_site_id, discrepancy.observed_dock):
        raise ValidationError(
            {
                "discrepancy": f"This change does not record the discrepancy it was opened from: case "
                f"{discrepancy.case.serial} seen at {discrepancy.observed_place}."
            }
        )


@transaction.atomic
def discrepancy_resolve_with(
    *, discrepancy: Discrepancy, installation: Installation, user: User | None
) -> Discrepancy:
    """Resolve ``discrepancy`` by ``installation``: the install or swap that put its case where it was seen.
    Checked as ``discrepancy_check_record`` does, on the discrepancy as it is now; done already when the
    installation's own record resolved it (``discrepancies_follow_installations``)."""
    discrepancy = (
        Discrepancy.objects.select_for_update(of=("self",))
        .select_related("case", "observed_site")
        .get(pk=discrepancy.pk)
    )
    if discrepancy.resolved_with_id == installation.pk:
        return discrepancy
    discrepancy_check_record(
        discrepancy=discrepancy, case=installation.component, position=installation.position
    )
    _resolve(discrepancy, installation=installation, user=user)
    return discrepancy


@transaction.atomic
def discrepancy_resolve_by_install(
    *,
    discrepancy: Discrepancy,
    component: Component,
    position: Position,
    user: User | None,
    reason: str = "",
    note: str = "",
    at: datetime | None = None,
    confirm_incomplete: bool = False,
) -> Installation:
    """Install ``component`` (the discrepancy's case) at ``position``, the dock ``discrepancy`` saw it in, and
    resolve ``discrepancy`` with that installation: both or neither."""
    installation = component_install(
        component=component,
        position=position,
        user=user,
        reason=reason,
        note=note,
        at=at,
        confirm_incomplete=confirm_incomplete,
    )
    discrepancy_resolve_with(discrepancy=discrepancy, installation=installation, user=user)
    return installation


@transaction.atomic
def discrepancy_resolve_by_swap(
    *,
    discrepancy: Discrepancy,
    position: Position,
    old_component: Component,
    new_component: Component,
    user: User | None,
    reason: str,
    old_component_status: str,
    note: str = "",
    at: datetime | None = None,
    confirm_incomplete: bool = False,
) -> Installation:
    """Swap ``new_component`` (the discrepancy's case) for ``old_component`` at ``position``, the dock
    ``discrepancy`` saw it in, as ``component_swap`` does, and resolve ``discrepancy`` with the new
    installation: both or neither."""
    installation = component_swap(
        position=position,
        old_component=old_component,
        new_component=new_component,
        user=user,
        reason=reason,
        old_component_status=old_component_status,
        note=note,
        at=at,
        confirm_incomplete=confirm_incomplete,
    )
    discrepancy_resolve_with(discrepancy=discrepancy, installation=installation, user=user)
    return installation


# Readings of the cases %(cases)s from %(start)s on that the installation records do not explain (the case
# was not recorded in that dock of that site then), per case and observed position.
UNEXPLAINED_SQL = """
WITH recorded AS MATERIALIZED (
    SELECT * FROM unnest(%(span_cases)s::bigint[], %(span_starts)s::timestamptz[],
        %(span_ends)s::timestamptz[], %(span_sites)s::bigint[], %(span_docks)s::integer[])
        AS span(case_id, since, until, site_id, dock)
)
SELECT r.case_id, r.site_id, r.dock, min(r.time), max(r.time), count(*)
FROM telemetry_packreading r
WHERE r.case_id = ANY(%(cases)s) AND r.time >= %(start)s AND NOT EXISTS (
    SELECT 1 FROM recorded
    WHERE recorded.case_id = r.case_id AND recorded.site_id = r.site_id AND recorded.dock = r.dock
        AND r.time >= recorded.since AND (recorded.until IS NULL OR r.time < recorded.until)
)
GROUP BY 1, 2, 3
"""


@transaction.atomic
def discrepancies_reevaluate(
    *, case_ids: list[int], start: datetime, installation: Installation, user: User | None
) -> tuple[int, int]:
    """After a late change (``installation``, at ``start``), make the discrepancies of ``case_ids`` agree
    with the stored readings and the records as they are now. An open one that no reading supports any more
    is resolved with ``installation``; the others get the exact span and count of the readings they stand
    for; readings that nothing explains and no discrepancy covers open new ones. Returns (opened, resolved).
    """
    open_ones = list(
        Discrepancy.objects.select_for_update().filter(case_id__in=case_ids, status=Discrepancy.Status.OPEN)
    )
    start = min([start, *(discrepancy.first_seen for discrepancy in open_ones)])
    positions = recorded_positions(case_ids)
    spans = [(case_id, span) for case_id, case_spans in positions.items() for span in case_spans]
    with connection.cursor() as cursor:
        cursor.execute(
            UNEXPLAINED_SQL,
            {
                "cases": list(case_ids),
                "start": start,
                "span_cases": [case_id for case_id, _ in spans],
                "span_starts": [span.start for _, span in spans],
                "span_ends": [span.end for _, span in spans],
                "span_sites": [span.value[0] for _, span in spans],
                "span_docks": [span.value[1] for _, span in spans],
            },
        )
        unexplained = {(case, site, dock): seen for case, site, dock, *seen in cursor.fetchall()}
    resolved = 0
    for discrepancy in open_ones:
        seen = unexplained.pop(
            (discrepancy.case_id, discrepancy.observed_site_id, discrepancy.observed_dock), None
        )
        if seen is None:
            discrepancy.status = Discrepancy.Status.RESOLVED
            discrepancy.resolved_by, discrepancy.resolved_at = user, timezone.now()
            discrepancy.resolved_with = installation
            discrepancy.note = f"{discrepancy.note}\nExplained by the late record: {installation}.".strip()
            resolved += 1
        else:
            discrepancy.first_seen, discrepancy.last_seen, discrepancy.sample_count = seen
        discrepancy.save()
    opened = 0
    for (case_id, site_id, dock), (first, last, count) in unexplained.items():
        already_dealt_with = Discrepancy.objects.filter(
            case_id=case_id,
            observed_site_id=site_id,
            observed_dock=dock,
            first_seen__lte=first,
            last_seen__gte=last,
        )
        if already_dealt_with.exists():
            continue
        recorded_site, recorded_dock = value_at(positions[case_id], first) or (None, None)
        Discrepancy.objects.create(
            case_id=case_id,
            kind=discrepancy_kind(
                case_id=case_id, site_id=site_id, pms_dock=dock, recorded_site_id=recorded_site, at=first
            ),
            observed_site_id=site_id,
            observed_dock=dock,
            recorded_site_id=recorded_site,
            recorded_dock=recorded_dock,
            first_seen=first,
            last_seen=last,
            sample_count=count,
        )
        opened += 1
    return opened, resolved
