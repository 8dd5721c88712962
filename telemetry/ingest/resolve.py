"""Time-aware identity resolution, from the assets installation records.

What resolution reads from the master data is cached per process (and thread) under the master data's
version (assets migration 0005): each payload reads the version, one cheap query, and drops the cache when
it has changed, so a swap or a move is honoured by every reading ingested after it commits; readings stored
before then are corrected by the re-attribution the change queues (telemetry/reattribution.py). Pack ids are
cached with every installation of their case (all time, not just the payload's span), so the samples a
gateway sends every few seconds hit the cache; a payload with new pack ids loads only those, in two queries.
"""

import threading
from dataclasses import dataclass

from django.db import connection

from assets.constants import pms_dock_number
from assets.models import Kind, Site

CACHED_PACKS_LIMIT = 200_000  # a fleet of 1,000 sites has about 50,000 packs


@dataclass(frozen=True)
class Span:
    start: object
    end: object  # None: still open
    value: object

    def covers(self, moment):
        return self.start <= moment and (self.end is None or moment < self.end)


def value_at(spans, moment):
    for span in spans:
        if span.covers(moment):
            return span.value
    return None


class _MasterDataCache(threading.local):
    def __init__(self):
        self._empty(version=None)

    def _empty(self, *, version):
        self.version = version
        self.sites = {}  # PMS id -> site id, or None: no such site
        self.packs = {}  # pack id -> case id (a Case id), Board (a board id), or None
        self.positions = {}  # case id -> [Span(value=(site id, PMS dock))]
        self.devices = {}  # kind -> {device id -> component id, or None: no such device}
        self.device_sites = {}  # MPPT / inverter component id -> [Span(value=site id)]

    def current(self):
        """The cache, emptied if the master data changed since it was filled."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT version FROM assets_master_data_version")
            (version,) = cursor.fetchone()
        if version != self.version or len(self.packs) > CACHED_PACKS_LIMIT:
            self._empty(version=version)
        return self


_cache = _MasterDataCache()


def sites_by_pms_id(pms_ids):
    cache = _cache.current()
    missing = set(pms_ids) - cache.sites.keys()
    if missing:
        found = dict(Site.objects.filter(pms_id__in=missing).values_list("pms_id", "id"))
        cache.sites.update({pms_id: found.get(pms_id) for pms_id in missing})
    return {pms_id: cache.sites[pms_id] for pms_id in pms_ids if cache.sites[pms_id] is not None}


PACKS_SQL = """
SELECT c.serial, c.kind, c.id, i.installed_at, i.removed_at, board_place.parent_id
FROM assets_component c
LEFT JOIN assets_installation i ON i.component_id = c.id AND c.kind = %(board)s
LEFT JOIN assets_position board_place ON board_place.id = i.position_id
WHERE c.serial = ANY(%(pack_ids)s) AND c.kind IN (%(case)s, %(board)s)
"""

# Where a case was, from its dock, its busbar's cabinet and that cabinet's site: one span per overlap of
# the three installations.
POSITIONS_SQL = """
SELECT in_dock.component_id, lower(overlap.span), upper(overlap.span), cabinet_place.site_id,
       cabinet_place.number, dock.number
FROM assets_installation in_dock
JOIN assets_position dock ON dock.id = in_dock.position_id
JOIN assets_installation in_cabinet ON in_cabinet.component_id = dock.parent_id
    AND in_cabinet.position_kind = %(busbar)s
JOIN assets_position busbar_place ON busbar_place.id = in_cabinet.position_id
JOIN assets_installation on_site ON on_site.component_id = busbar_place.parent_id
    AND on_site.position_kind = %(cabinet)s
JOIN assets_position cabinet_place ON cabinet_place.id = on_site.position_id
CROSS JOIN LATERAL (
    SELECT tstzrange(in_dock.installed_at, in_dock.removed_at)
        * tstzrange(in_cabinet.installed_at, in_cabinet.removed_at)
        * tstzrange(on_site.installed_at, on_site.removed_at) AS span
) AS overlap
WHERE in_dock.component_id = ANY(%(case_ids)s) AND in_dock.position_kind = %(case)s
    AND NOT isempty(overlap.span)
"""


@dataclass(frozen=True)
class Board:
    """An acquisition board known by its id: its component id and the cases it sat in."""

    id: int
    spans: list  # [Span(value=case id)]


def _load_packs(cache, pack_ids):
    kinds = {"case": Kind.CASE.value, "board": Kind.ACQ_BOARD.value}
    cases, boards = {}, {}
    with connection.cursor() as cursor:
        cursor.execute(PACKS_SQL, {**kinds, "pack_ids": list(pack_ids)})
        for serial, kind, component_id, start, end, case_id in cursor.fetchall():
            if kind == Kind.CASE:
                cases[serial] = component_id
                continue
            board = boards.setdefault(serial, Board(component_id, []))  # never installed: in no case
            if start is not None:
                board.spans.append(Span(start, end, case_id))
    for pack_id in pack_ids:
        cache.packs[pack_id] = cases.get(pack_id, boards.get(pack_id))
    case_ids = set(cases.values()) | {span.value for board in boards.values() for span in board.spans}
    _load_positions(cache, case_ids - cache.positions.keys())


def _load_positions(cache, case_ids):
    if case_ids:
        cache.positions.update(recorded_positions(case_ids))


def recorded_positions(case_ids):
    """{case id: [Span(value=(site id, PMS-wide dock))]}: where the installation records put each case."""
    kinds = {"case": Kind.CASE.value, "busbar": Kind.BUSBAR.value, "cabinet": Kind.CABINET.value}
    positions = {case_id: [] for case_id in case_ids}
    with connection.cursor() as cursor:
        cursor.execute(POSITIONS_SQL, {**kinds, "case_ids": list(case_ids)})
        for case_id, start, end, site_id, cabinet_number, dock_number in cursor.fetchall():
            value = (site_id, pms_dock_number(cabinet_number, dock_number))
            positions[case_id].append(Span(start, end, value))
    return positions


class PackResolver:
    """Pack id -> case at a time, and where the installation records put that case at a time."""

    def __init__(self, pack_ids=()):
        self._cache = _cache.current()
        self.packs = self._cache.packs  # those not loaded yet are not among its keys
        self.positions = self._cache.positions  # case id -> [Span(value=(site id, PMS-wide dock))]
        self.load(pack_ids)

    def load(self, pack_ids):
        """Load those of ``pack_ids`` the cache does not hold yet (two queries)."""
        missing = set(pack_ids) - self.packs.keys()
        if missing:
            _load_packs(self._cache, missing)

    def case_at(self, pack_id, moment):
        """(case id, the board's component id or None for a Case id, None), or (None, None, the reason it
        cannot be resolved)."""
        found = self.packs.get(pack_id)
        if found is None:
            return None, None, f"{pack_id!r} is neither a known Case id nor a known acquisition board id"
        if not isinstance(found, Board):
            return found, None, None
        case_id = value_at(found.spans, moment)
        if case_id is None:
            return None, None, f"acquisition board {pack_id!r} was not in any case at {moment.isoformat()}"
        return case_id, found.id, None


DEVICES_SQL = """
SELECT c.configured_id, c.id, i.installed_at, i.removed_at, device_place.site_id
FROM assets_component c
LEFT JOIN assets_installation i ON i.component_id = c.id
LEFT JOIN assets_position device_place ON device_place.id = i.position_id
WHERE c.kind = %(kind)s AND c.configured_id = ANY(%(device_ids)s)
"""


def _load_devices(cache, kind, device_ids):
    devices = cache.devices[kind]
    devices.update(dict.fromkeys(device_ids))
    with connection.cursor() as cursor:
        cursor.execute(DEVICES_SQL, {"kind": str(kind), "device_ids": list(device_ids)})
        for device_id, component_id, start, end, site_id in cursor.fetchall():
            devices[device_id] = component_id
            spans = cache.device_sites.setdefault(component_id, [])
            if start is not None:
                spans.append(Span(start, end, site_id))


class DeviceResolver:
    """MPPT / inverter device id -> component, and the site it was installed on at a time."""

    def __init__(self, kind, device_ids):
        cache = _cache.current()
        self.devices = cache.devices.setdefault(kind, {})
        missing = set(device_ids) - self.devices.keys()
        if missing:
            _load_devices(cache, kind, missing)
        self.sites = cache.device_sites

    def site_at(self, component_id, moment):
        return value_at(self.sites.get(component_id, ()), moment)
