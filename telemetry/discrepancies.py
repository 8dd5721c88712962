"""Discrepancies between what the packs report and the installation records: resolving them."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assets.selectors import location_of_position
from telemetry.models import Discrepancy


def discrepancies_resolve(*, discrepancies, user):
    """Mark the open ones of ``discrepancies`` (a queryset) resolved by ``user`` now. Returns how many."""
    return discrepancies.filter(status=Discrepancy.Status.OPEN).update(
        status=Discrepancy.Status.RESOLVED, resolved_by=user, resolved_at=timezone.now()
    )


def discrepancy_check_record(*, discrepancy, case, position):
    """Refuse (ValidationError on ``discrepancy``) unless installing ``case`` at ``position`` records what the
    open ``discrepancy`` saw: that case, in that dock of that site."""
    if discrepancy.status != Discrepancy.Status.OPEN:
        raise ValidationError({"discrepancy": "This discrepancy is resolved already; nothing to resolve."})
    location = location_of_position(position)
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
def discrepancy_resolve_with(*, discrepancy, installation, user):
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
