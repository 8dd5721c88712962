"""Reads of telemetry: gateway tokens for the ingest endpoint, and the latest state, site figures and
discrepancies for the pages. Chart series are in telemetry/series.py, the CSV export in telemetry/export.py;
web/selectors.py assembles the pages from these and the asset and alarm reads.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, connections, router, transaction
from django.db.models import Q, QuerySet

from assets.models import Installation, Site
from telemetry.measures import CELL_MAX, CELL_MIN, PACK_TEMP_MAX, PV_POWERS
from telemetry.models import (
    DeviceState,
    Discrepancy,
    GatewayToken,
    IngestBatch,
    PackReading,
    PackState,
    Reattribution,
)


@dataclass(frozen=True)
class GatewayAccess:
    """What one gateway token may send: payloads for its site. The worker checks each reading's device
    against the site at the reading's time, and quarantines the others."""

    token_id: int
    site_id: int
    pms_id: str  # the site's


@dataclass(frozen=True)
class TokenState:
    """A gateway token as the endpoint sees it on each request."""

    id: int
    site_id: int
    pms_id: str
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None


TOKEN_SQL = (
    "SELECT token.id, token.site_id, site.pms_id, token.revoked_at, token.expires_at, token.last_used_at "
    f"FROM {GatewayToken._meta.db_table} token JOIN {Site._meta.db_table} site ON site.id = token.site_id "
    "WHERE token.key_hash = %s"
)


def batch_oldest_waiting() -> uuid.UUID | None:
    """The id of the batch that has waited longest for a worker (pending and queued), or None. Batches in
    another worker's group (row-locked) are not waiting: passed over."""
    with transaction.atomic():
        waiting = IngestBatch.objects.select_for_update(skip_locked=True).filter(
            status=IngestBatch.Status.PENDING, enqueued_at__isnull=False
        )
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
    """The rows of one SQL query as dicts by column name, from the database the pages read (a replica when
    pms_site/db_routers.py sends them there)."""
    with connections[router.db_for_read(PackState)].cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


# --- Latest state, for the fleet and site pages ---------------------------------------------------------


def last_seen_by_site(*, site_ids: Iterable[int]) -> dict[int, datetime]:
    """{site_id: the newest time of its packs' and devices' latest states} for those of ``site_ids`` that
    have reported. One query, reading no cell arrays: what the fleet page sorts by status needs of every
    site, before it computes the figures of the page's sites alone."""
    rows = fetch_dicts(
        f"""
        SELECT site_id, max(time) AS last_seen FROM (
            SELECT site_id, time FROM {PackState._meta.db_table} WHERE site_id = ANY(%(site_ids)s)
          UNION ALL
            SELECT site_id, time FROM {DeviceState._meta.db_table} WHERE site_id = ANY(%(site_ids)s)
        ) AS states
        GROUP BY site_id
        """,
        {"site_ids": list(site_ids)},
    )
    return {row["site_id"]: row["last_seen"] for row in rows}


def pack_figures_by_site(*, site_ids: Iterable[int]) -> dict[int, dict]:
    """{site_id: {cell_min, cell_max, delta_max, temp_max, last_seen}} over the latest state of each pack
    that reported from the site: lowest and highest cell, worst cell spread of one pack, hottest pack
    temperature, newest time. Cells flagged open are left out. One query."""
    rows = fetch_dicts(
        f"""
        WITH packs AS MATERIALIZED (  -- each pack's lowest and highest cell computed once, not twice
            SELECT site_id, {CELL_MIN} AS low, {CELL_MAX} AS high, {PACK_TEMP_MAX} AS temp, time
            FROM {PackState._meta.db_table}
            WHERE site_id = ANY(%(site_ids)s)
        )
        SELECT site_id, min(low) AS cell_min, max(high) AS cell_max, max(high - low) AS delta_max,
               max(temp) AS temp_max, max(time) AS last_seen
        FROM packs
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


def reporting_by_dock(*, site: Site) -> dict[int, PackState]:
    """{PMS-wide dock: the latest state of the case that reported from it last} for ``site``: which case the
    telemetry says is in each dock, whatever the records say."""
    states = PackState.objects.filter(site=site).select_related("case").order_by("dock", "-time")
    return {state.dock: state for state in states.distinct("dock")}


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


_READING_RUNS_SQL = f"""
SELECT min(time) AS first, max(time) AS last FROM (
    SELECT time, count(*) FILTER (WHERE time - previous > %(gap)s) OVER (ORDER BY time) AS run
    FROM (
        SELECT time, lag(time) OVER (ORDER BY time) AS previous
        FROM (SELECT DISTINCT time FROM {PackReading._meta.db_table}
              WHERE site_id = %(site_id)s AND time >= %(start)s AND time < %(end)s) AS times
    ) AS steps
) AS runs
GROUP BY run ORDER BY first
"""


def pack_reading_gaps(*, site: Site, start: datetime, end: datetime, gap: timedelta) -> list[tuple]:
    """The spans of [start, end) in which ``site`` has no pack reading: before the first, after the last,
    and between two readings more than ``gap`` apart. [(first, last)], each [first, last)."""
    runs = fetch_dicts(_READING_RUNS_SQL, {"site_id": site.pk, "start": start, "end": end, "gap": gap})
    after = timedelta(seconds=1)
    edges = [start] + [at for run in runs for at in (run["first"], run["last"] + after)] + [end]
    return [(first, last) for first, last in zip(edges[::2], edges[1::2], strict=True) if first < last]


def reattributions_of_case(*, case_id: int) -> QuerySet[Reattribution]:
    """The re-attributions that re-checked the readings of case ``case_id``, running or done, newest first."""
    return Reattribution.objects.filter(cases__contains=[case_id]).select_related(
        "installation__component", "installation__position", "user"
    )


def reattribution_running_for_case(*, case_id: int) -> bool:
    return reattributions_of_case(case_id=case_id).filter(status=Reattribution.Status.RUNNING).exists()
