"""Discrepancies between what the packs report and the installation records: resolving them."""

from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from assets.models import Component, Installation, Position
from assets.selectors import location_of_position
from assets.services import component_install, component_swap
from telemetry.models import Discrepancy


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
                f"{discrepancy.case.serial} reported from {discrepancy.observed_site.pms_id} dock "
                f"{discrepancy.observed_dock}."
            }
        )


@transaction.atomic
def discrepancy_resolve_with(
    *, discrepancy: Discrepancy, installation: Installation, user: User | None
) -> Discrepancy:
    """Resolve ``discrepancy`` by ``installation``: the install or swap that put its case where it was seen.
    Checked as ``discrepancy_check_record`` does, on the discrepancy as it is now."""
    discrepancy = (
        Discrepancy.objects.select_for_update(of=("self",))
        .select_related("case", "observed_site")
        .get(pk=discrepancy.pk)
    )
    discrepancy_check_record(
        discrepancy=discrepancy, case=installation.component, position=installation.position
    )
    discrepancy.status = Discrepancy.Status.RESOLVED
    discrepancy.resolved_by = user
    discrepancy.resolved_at = timezone.now()
    discrepancy.resolved_with = installation
    discrepancy.save(update_fields=["status", "resolved_by", "resolved_at", "resolved_with"])
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
) -> Installation:
    """Install ``component`` (the discrepancy's case) at ``position``, the dock ``discrepancy`` saw it in, and
    resolve ``discrepancy`` with that installation: both or neither."""
    installation = component_install(
        component=component, position=position, user=user, reason=reason, note=note, at=at
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
    )
    discrepancy_resolve_with(discrepancy=discrepancy, installation=installation, user=user)
    return installation
