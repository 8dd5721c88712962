"""Reads of telemetry: gateway tokens for the ingest endpoint, and the latest state, site figures and
discrepancies for the pages. Chart series are in telemetry/series.py, the CSV export in telemetry/export.py;
web/selectors.py assembles the pages from these and the asset and alarm reads.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q, QuerySet

from assets.models import Installation, Site
from telemetry.measures import CELL_MAX, CELL_MIN, PACK_TEMP_MAX, PV_POWERS
from telemetry.models import DeviceState, Discrepancy, GatewayToken, IngestBatch, PackState


@dataclass(frozen=True)
class GatewayAccess:
    """What one gateway token may send: payloads for its site. The worker checks each reading's device
    against the site at the reading's time, and quarantines the others."""

    token_id: int
    site_id: int


@dataclass(frozen=True)
class TokenState:
    """A gateway token as the endpoint sees it on each request."""

    id: int
    site_id: int
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None


TOKEN_SQL = (
    "SELECT id, site_id, revoked_at, expires_at, last_used_at "
    f"FROM {GatewayToken._meta.db_table} WHERE key_hash = %s"
)


def batch_oldest_waiting() -> uuid.UUID | None:
    """The id of the batch that has waited longest for a worker (pending and queued), or None."""
    waiting = IngestBatch.objects.filter(status=IngestBatch.Status.PENDING, enqueued_at__isnull=False)
    return waiting.order_by("enqueued_at").values_list("id", flat=True).first()


def gateway_token_state(*, token_hash):
    """The token with this hash, or None. Read on every request (one indexed lookup, ~0.1 ms), so that a
    revocation or an expiry takes effect at once; raw SQL, as the ORM's query building costs more than the
    query."""
    with connection.cursor() as cursor:
        cursor.execute(TOKEN_SQL, [token_hash])
        row = cursor.fetchone()
    return TokenState(*row) if row else None


def fetch_dicts(sql, params):
    """The rows of one SQL query as dicts by column name."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


# --- Latest state, for the fleet and site pages ---------------------------------------------------------


def pack_figures_by_site(*, site_ids: Iterable[int]) -> dict[int, dict]:
    """{site_id: {cell_min, cell_max, delta_max, temp_max, last_seen}} over the latest state of each pack
    that reported from the site: lowest and highest cell, worst cell spread of one pack, hottest pack
    temperature, newest time. Cells flagged open are left out. One query."""
    rows = fetch_dicts(
        f"""
        SELECT site_id, min({CELL_MIN}) AS cell_min, max({CELL_MAX}) AS cell_max,
               max({CELL_MAX} - {CELL_MIN}) AS delta_max, max({PACK_TEMP_MAX}) AS temp_max,
               max(time) AS last_seen
        FROM {PackState._meta.db_table}
        WHERE site_id = ANY(%(site_ids)s)
        GROUP BY site_id
        """,
        {"site_ids": list(site_ids)},
    )
    return {row.pop("site_id"): row for row in rows}


def device_figures_by_site(*, site_ids: Iterable[int], fresh_since: datetime) -> dict[int, dict]:
    """{site_id: {pv_power, last_seen}}: PV power now (W, of the MPPTs reporting since ``fresh_since``) and
    the newest device time. One query."""
    rows = fetch_dicts(
        f"""
        SELECT site_id,
               sum({" + ".join(PV_POWERS)})
                   FILTER (WHERE kind = 'mppt' AND time >= %(fresh_since)s) AS pv_power,
               max(time) AS last_seen
        FROM {DeviceState._meta.db_table}
        WHERE site_id = ANY(%(site_ids)s)
        GROUP BY site_id
        """,
        {"site_ids": list(site_ids), "fresh_since": fresh_since},
    )
    return {row.pop("site_id"): row for row in rows}


def pack_states(*, case_ids: Iterable[int]) -> dict[int, PackState]:
    """{case id: its latest reading} of those of ``case_ids`` that have reported."""
    return PackState.objects.in_bulk(list(case_ids))


def device_states(*, site: Site) -> list[DeviceState]:
    """Latest state of the site's MPPTs and inverters, each with ``pv_power``: watts per PV input."""
    states = list(
        DeviceState.objects.filter(site=site).select_related("device").order_by("kind", "device__serial")
    )
    for state in states:
        state.pv_power = [volts * amps for volts, amps in zip(state.pv_volts, state.pv_amps, strict=True)]
    return states


# --- Discrepancies ---------------------------------------------------------------------------------------


def open_discrepancies(*, site: Site | None = None) -> QuerySet[Discrepancy]:
    """Open discrepancies, newest first; with ``site``, those observed on it or recorded on it."""
    discrepancies = Discrepancy.objects.filter(status=Discrepancy.Status.OPEN)
    if site is not None:
        discrepancies = discrepancies.filter(Q(observed_site=site) | Q(recorded_site=site))
    return discrepancies.select_related("case", "observed_site", "recorded_site").order_by("-last_seen")


def discrepancies_resolved_with(*, installation: Installation) -> QuerySet[Discrepancy]:
    """The discrepancies that recording ``installation`` resolved."""
    return installation.resolved_discrepancies.select_related("case", "observed_site", "resolved_by")
