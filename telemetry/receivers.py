"""Receivers of the asset model's signals (connected in TelemetryConfig.ready)."""

from django.db import transaction

from telemetry.discrepancies import discrepancies_follow_installations
from telemetry.reattribution import reattribution_queue


def follow_installations(sender, *, installations, user, **kwargs):
    """An install, removal or swap recorded by any path brings the open discrepancies up to date with it,
    in the writer's transaction; once that commits, the readings stored from the change's time on are
    re-checked (telemetry/reattribution.py). A failure to queue that is logged, never the writer's error."""
    discrepancies_follow_installations(installations=installations)
    for installation in installations:
        at = installation.removed_at or installation.installed_at
        transaction.on_commit(
            lambda installation=installation, at=at: reattribution_queue(
                installation=installation, at=at, user=user
            ),
            robust=True,
        )
