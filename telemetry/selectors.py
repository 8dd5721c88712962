"""Reads of telemetry: gateway access, latest state, and series sized for a chart."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Q

from assets.models import Installation, Kind
from telemetry.models import DeviceState, GatewayToken, PackState
from telemetry.rollups import DEVICE_MEASURES, PACK_MEASURES

SAMPLE_INTERVAL = timedelta(seconds=5)
MAX_POINTS = 1000


@dataclass(frozen=True)
class GatewayAccess:
    """What one gateway token may send: its site's PMS id and the ids of MPPTs and inverters ever on it."""

    token_id: int
    site_id: int
    pms_id: str
    device_ids: frozenset  # of (kind, device id)

    def allows(self, kind, device_id):
        if kind == "pms":
            return device_id == self.pms_id
        return (kind, device_id) in self.device_ids


def gateway_access(*, token_hash):
    """The access of the live token with this hash, or None. Cached briefly per process: at 200 requests a
    second the endpoint must not query master data each time."""
    key = f"gateway-access:{token_hash}"
    access = cache.get(key)
    if access is None:
        token = (
            GatewayToken.objects.filter(key_hash=token_hash, revoked_at__isnull=True)
            .select_related("site")
            .first()
        )
        if token is None:
            return None
        devices = Installation.objects.filter(
            position__site=token.site_id, position_kind__in=[Kind.MPPT, Kind.INVERTER]
        ).values_list("component__kind", "component__configured_id")
        access = GatewayAccess(token.id, token.site_id, token.site.pms_id, frozenset(devices))
        cache.set(key, access, settings.GATEWAY_ACCESS_CACHE_SECONDS)
    return access


def pack_states_for_site(*, site):
    """The newest reading of each pack last seen on ``site``, by dock."""
    return PackState.objects.filter(site=site).select_related("case").order_by("dock")


def device_states_for_site(*, site, kind=None):
    states = DeviceState.objects.filter(site=site).select_related("device")
    return states.filter(Q(kind=kind) if kind else Q()).order_by("kind", "device__configured_id")


@dataclass(frozen=True)
class Source:
    name: str  # "raw", "1m" or "1h"
    grain: timedelta
    table: str
    time_column: str


@dataclass(frozen=True)
class Series:
    """Points of a chart: each is a dict with ``time`` (bucket start), ``n`` (readings in it) and one key per
    measure of telemetry.rollups (``volts_min``, ``volts_avg`` ... for packs; ``pv1_power_avg`` ... for
    devices). ``source`` says which table answered and ``bucket`` how wide each point is."""

    source: str
    bucket: timedelta
    points: list


def _sources(readings_table, rollup_prefix):
    return [
        Source("raw", SAMPLE_INTERVAL, readings_table, "time"),
        Source("1m", timedelta(minutes=1), f"{rollup_prefix}1m", "bucket"),
        Source("1h", timedelta(hours=1), f"{rollup_prefix}1h", "bucket"),
    ]


def _series(*, sources, measures, entity_column, entity_id, start, end, max_points):
    """The finest source that gives at most ``max_points`` points over [start, end); coarser buckets still if
    even hourly rollups would give more."""
    span = end - start
    source = next((s for s in sources if span / s.grain <= max_points), sources[-1])
    width = max(source.grain, timedelta(seconds=-(-span.total_seconds() // max_points)))
    from_rollup = source.name != "raw"
    aggregates = ", ".join(
        f"{rollup if from_rollup else raw} AS {column}" for column, raw, rollup in measures
    )
    time_column = source.time_column
    sql = (
        f"SELECT time_bucket(%(width)s, {time_column}) AS time, "
        f"{'sum(n)' if from_rollup else 'count(*)'} AS n, {aggregates} FROM {source.table} "
        f"WHERE {entity_column} = %(entity)s AND {time_column} >= %(start)s AND {time_column} < %(end)s "
        "GROUP BY 1 ORDER BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"width": width, "entity": entity_id, "start": start, "end": end})
        names = [column.name for column in cursor.description]
        points = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return Series(source=source.name, bucket=width, points=points)


def pack_series(*, start, end, case=None, site=None, max_points=MAX_POINTS):
    """A case's readings over [start, end), or all packs of a site together (min/avg/max over them)."""
    entity_column, entity = ("case_id", case) if case is not None else ("site_id", site)
    return _series(
        sources=_sources("telemetry_packreading", "telemetry_packrollup"),
        measures=PACK_MEASURES,
        entity_column=entity_column,
        entity_id=entity.pk,
        start=start,
        end=end,
        max_points=max_points,
    )


def device_series(*, device, start, end, max_points=MAX_POINTS):
    """An MPPT's or inverter's readings over [start, end)."""
    return _series(
        sources=_sources(f"telemetry_{device.kind}reading", "telemetry_devicerollup"),
        measures=DEVICE_MEASURES,
        entity_column="device_id",
        entity_id=device.pk,
        start=start,
        end=end,
        max_points=max_points,
    )
