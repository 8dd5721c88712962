"""Reads of the asset model. Each "as of T" question is one indexed query."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connections, router
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone

from assets.constants import dock_name, pms_dock_number, split_pms_dock_number
from assets.models import PLACEMENT, Case, Component, Installation, Kind, Position, Site


def active_at(at: datetime) -> Q:
    """Installations that were in place at instant ``at``."""
    return Q(installed_at__lte=at) & (Q(removed_at__isnull=True) | Q(removed_at__gt=at))


def installation_at(
    *, position: Position | None = None, component: Component | int | None = None, at: datetime | None = None
) -> Installation | None:
    """The installation in ``position`` (or of ``component``) at ``at`` (default now), or None."""
    at = at or timezone.now()
    lookup = {"position": position} if position is not None else {"component": component}
    return (
        Installation.objects.filter(active_at(at), **lookup)
        .select_related("component", "position")
        .order_by("-installed_at")
        .first()
    )


def component_in_position_at(*, position: Position, at: datetime | None = None) -> Component | None:
    installation = installation_at(position=position, at=at)
    return installation.component if installation else None


def installations_of(*, component: Component) -> QuerySet[Installation]:
    """Where has this component been? Oldest first."""
    return (
        Installation.objects.filter(component=component)
        .select_related("position", "position__site", "position__parent", "installed_by", "removed_by")
        .order_by("installed_at")
    )


def case_in_pms_dock_at(*, pms_id: str, pms_dock: int, at: datetime) -> Installation | None:
    """What was in PMS-wide dock ``pms_dock`` of the PMS ``pms_id`` at ``at``?

    One query: the case installed in that dock, whose busbar was in that cabinet, whose cabinet was on the
    site with that PMS id, all at the same instant.
    """
    cabinet_number, dock_number = split_pms_dock_number(pms_dock)
    cabinet_on_site = Installation.objects.filter(
        active_at(at),
        component=OuterRef("position__parent"),
        position__kind=Kind.CABINET,
        position__number=cabinet_number,
        position__site__pms_id=pms_id,
    )
    busbar_in_cabinet = Installation.objects.filter(
        active_at(at), component=OuterRef("position__parent"), position__kind=Kind.BUSBAR
    ).filter(Exists(cabinet_on_site))
    return (
        Installation.objects.filter(active_at(at), position__kind=Kind.CASE, position__number=dock_number)
        .filter(Exists(busbar_in_cabinet))
        .select_related("component", "position")
        .first()
    )


def dock_at(*, site: Site | int, pms_dock: int, at: datetime) -> Position | None:
    """The dock position that was PMS-wide dock ``pms_dock`` of ``site`` at ``at``: on the busbar in that
    cabinet, whose cabinet was on the site. None: the PMS had no such dock then."""
    cabinet_number, dock_number = split_pms_dock_number(pms_dock)
    cabinet_on_site = Installation.objects.filter(
        active_at(at),
        position__kind=Kind.CABINET,
        position__number=cabinet_number,
        position__site=site,
    ).values("component")
    busbar_in_cabinet = Installation.objects.filter(
        active_at(at), position__kind=Kind.BUSBAR, position__parent__in=cabinet_on_site
    ).values("component")
    return Position.objects.filter(kind=Kind.CASE, number=dock_number, parent__in=busbar_in_cabinet).first()


def case_holding_board_at(*, board: Component | str, at: datetime) -> Case | None:
    """The Case that held acquisition board ``board`` (a Component or its hardware id) at ``at``, or None.

    Older gateways report the board's hardware id as the pack id; this turns it into the Case.
    """
    if isinstance(board, Component):
        board_filter = {"component": board}
    else:
        board_filter = {"component__kind": Kind.ACQ_BOARD, "component__serial": board}
    holding = Installation.objects.filter(active_at(at), position_kind=Kind.ACQ_BOARD, **board_filter)
    return Case.objects.filter(pk=Subquery(holding.values("position__parent")[:1])).first()


@dataclass(frozen=True)
class Location:
    """Where a position sat at one instant: the site and the path down to it."""

    site: Site | None
    path: tuple[Position, ...]
    cabinet_number: int | None = None

    @property
    def pms_dock(self) -> int | None:
        leaf = self.path[-1]
        if leaf.kind != Kind.CASE or self.cabinet_number is None:
            return None
        return pms_dock_number(self.cabinet_number, leaf.number)

    @property
    def dock_name(self) -> str | None:
        """ "C2-D11" when the path goes through a dock of a cabinet's busbar."""
        dock = next((position for position in self.path if position.kind == Kind.CASE), None)
        if dock is None or self.cabinet_number is None:
            return None
        return dock_name(self.cabinet_number, dock.number)

    def __str__(self):
        """ "PMS-01-001 C1-D3", "PMS-01-001 C1-D3 cell block 5", "PMS-01-001 cabinet 1 controller"."""
        parts = [self.site.pms_id] if self.site else ["(not on a site)"]
        named_dock = self.dock_name
        for position in self.path:
            if position.kind == Kind.BUSBAR or (named_dock and position.kind == Kind.CABINET):
                continue
            parts.append(named_dock if named_dock and position.kind == Kind.CASE else position.label)
        return " ".join(parts)


def location_of_position(*, position: Position, at: datetime | None = None) -> Location:
    """Walk up from ``position`` through the installations of its parents at ``at``."""
    at = at or timezone.now()
    path = [position]
    current = position
    while current.parent_id is not None:
        holder = installation_at(component=current.parent_id, at=at)
        if holder is None:
            return Location(site=None, path=tuple(reversed(path)))
        current = holder.position
        path.append(current)
    cabinet = next((p for p in path if p.kind == Kind.CABINET), None)
    return Location(
        site=current.site,
        path=tuple(reversed(path)),
        cabinet_number=cabinet.number if cabinet else None,
    )


def location_of_component(*, component: Component, at: datetime | None = None) -> Location | None:
    """Where ``component`` was at ``at``, or None when it was not installed."""
    installation = installation_at(component=component, at=at)
    return location_of_position(position=installation.position, at=at) if installation else None


# --- What is installed on sites at a time ----------------------------------------------------------------


@dataclass(frozen=True)
class InstalledDock:
    """One dock of a cabinet's busbar and the case in it (None: empty)."""

    position: Position
    cabinet_number: int
    case: Component | None

    @property
    def pms_dock(self) -> int:
        return pms_dock_number(self.cabinet_number, self.position.number)

    @property
    def name(self) -> str:
        return dock_name(self.cabinet_number, self.position.number)


@dataclass(frozen=True)
class InstalledCabinet:
    position: Position
    cabinet: Component
    busbar: Component | None
    docks: tuple[InstalledDock, ...]  # every dock of the busbar, by number

    @property
    def number(self) -> int:
        return self.position.number


@dataclass(frozen=True)
class SiteInstalled:
    """What a site held at one instant: its cabinets (by number) down to the docks, and its devices."""

    cabinets: tuple[InstalledCabinet, ...] = ()
    mppts: tuple[Component, ...] = ()  # by position number
    inverters: tuple[Component, ...] = ()

    @property
    def cases(self) -> tuple[InstalledDock, ...]:
        """The docks holding a case, in cabinet then dock order."""
        return tuple(dock for cabinet in self.cabinets for dock in cabinet.docks if dock.case is not None)


def sites_installed_at(*, site_ids: Iterable[int], at: datetime | None) -> dict[int, SiteInstalled]:
    """{site id: SiteInstalled} at ``at``, or as recorded now (the open installations) when ``at`` is None.

    Two queries whatever the number of sites: the positions of the sites, of their cabinets and of their
    busbars' docks (each level through the installations at that instant), then what filled each of them.
    """
    site_ids = list(site_ids)
    in_place = Q(removed_at__isnull=True) if at is None else active_at(at)
    cabinets = Installation.objects.filter(
        in_place, position_kind=Kind.CABINET, position__site_id__in=site_ids
    ).values("component_id")
    busbars = Installation.objects.filter(
        in_place, position_kind=Kind.BUSBAR, position__parent__in=cabinets
    ).values("component_id")
    positions = Position.objects.filter(
        Q(site_id__in=site_ids, kind__in=[Kind.CABINET, Kind.MPPT, Kind.INVERTER])
        | Q(parent__in=cabinets, kind=Kind.BUSBAR)
        | Q(parent__in=busbars, kind=Kind.CASE)
    ).prefetch_related(
        Prefetch(
            "installations",
            queryset=Installation.objects.filter(in_place).select_related("component"),
            to_attr="in_place",
        )
    )
    by_parent, on_site = {}, {}
    for position in sorted(positions, key=lambda position: position.number):
        position.occupant = position.in_place[0].component if position.in_place else None
        if position.site_id is not None:
            on_site.setdefault(position.site_id, []).append(position)
        else:
            by_parent.setdefault(position.parent_id, []).append(position)
    return {site_id: _site_installed(on_site.get(site_id, []), by_parent) for site_id in site_ids}


def _site_installed(positions, by_parent):
    cabinets = []
    for position in positions:
        if position.kind != Kind.CABINET or position.occupant is None:
            continue
        busbar = next((p.occupant for p in by_parent.get(position.occupant.pk, [])), None)
        docks = by_parent.get(busbar.pk, []) if busbar else []
        cabinets.append(
            InstalledCabinet(
                position=position,
                cabinet=position.occupant,
                busbar=busbar,
                docks=tuple(
                    InstalledDock(position=dock, cabinet_number=position.number, case=dock.occupant)
                    for dock in docks
                ),
            )
        )

    def devices(kind):
        return tuple(p.occupant for p in positions if p.kind == kind and p.occupant is not None)

    return SiteInstalled(cabinets=tuple(cabinets), mppts=devices(Kind.MPPT), inverters=devices(Kind.INVERTER))


def site_installed_at(*, site: Site, at: datetime | None) -> SiteInstalled:
    """What ``site`` held at ``at`` (None: as recorded now); see ``sites_installed_at``."""
    return sites_installed_at(site_ids=[site.pk], at=at)[site.pk]


def component_by_serial(*, kind: str, serial: str) -> Component | None:
    return Component.objects.filter(kind=kind, serial=serial).first()


# --- What is where now, in bulk: for lists in the admin, the API and the pages ------------------------------

_ON_SITE_SQL = """
WITH RECURSIVE on_site(component_id) AS (
    SELECT i.component_id FROM assets_installation i
    JOIN assets_position p ON p.id = i.position_id
    WHERE i.removed_at IS NULL AND p.site_id = %s
  UNION ALL
    SELECT i.component_id FROM on_site
    JOIN assets_position p ON p.parent_id = on_site.component_id
    JOIN assets_installation i ON i.position_id = p.id AND i.removed_at IS NULL
)
SELECT component_id FROM on_site
"""

# Per site, the cases installed on it now: in a dock of a busbar in a cabinet on the site, the only place a
# case goes (PLACEMENT, enforced by the composite foreign keys of migration 0002), so three fixed joins of
# open installations, not a recursive walk: each step an index lookup, from the given sites only.
_CASE_COUNTS_SQL = f"""
SELECT on_site.site_id, count(*)
FROM assets_position on_site
JOIN assets_installation cabinet ON cabinet.position_id = on_site.id AND cabinet.removed_at IS NULL
JOIN assets_position busbar_slot ON busbar_slot.parent_id = cabinet.component_id
    AND busbar_slot.kind = '{Kind.BUSBAR}'
JOIN assets_installation busbar ON busbar.position_id = busbar_slot.id AND busbar.removed_at IS NULL
JOIN assets_position dock ON dock.parent_id = busbar.component_id AND dock.kind = '{Kind.CASE}'
JOIN assets_installation installed ON installed.position_id = dock.id AND installed.removed_at IS NULL
WHERE on_site.site_id = ANY(%s) AND on_site.kind = '{Kind.CABINET}'
GROUP BY on_site.site_id
"""

# For each component, the positions of its open installation and of its parents' up to the top, top first.
_CHAIN_UP_SQL = """
WITH RECURSIVE chain(component_id, position_id, depth) AS (
    SELECT i.component_id, i.position_id, 0 FROM assets_installation i
    WHERE i.removed_at IS NULL AND i.component_id = ANY(%s)
  UNION ALL
    SELECT chain.component_id, i.position_id, chain.depth + 1 FROM chain
    JOIN assets_position p ON p.id = chain.position_id
    JOIN assets_installation i ON i.component_id = p.parent_id AND i.removed_at IS NULL
)
SELECT component_id, array_agg(position_id ORDER BY depth DESC) FROM chain GROUP BY component_id
"""


def components_on_site(*, site: Site) -> QuerySet[Component]:
    """Components on ``site`` now: installed on it directly, or inside something that is (at any depth)."""
    return Component.objects.filter(pk__in=RawSQL(_ON_SITE_SQL, [site.pk]))


def installed_case_counts(*, site_ids: Iterable[int]) -> dict[int, int]:
    """{site id: cases installed on it now} for those of ``site_ids`` that have any, in one query."""
    with connections[router.db_for_read(Position)].cursor() as cursor:
        cursor.execute(_CASE_COUNTS_SQL, [list(site_ids)])
        return dict(cursor.fetchall())


def current_locations(*, components: Iterable[Component]) -> dict[int, Location]:
    """{component id: Location now} for those of ``components`` that are installed, in two queries."""
    ids = [component.pk for component in components]
    if not ids:
        return {}
    with connections[router.db_for_read(Position)].cursor() as cursor:
        cursor.execute(_CHAIN_UP_SQL, [ids])
        chains = dict(cursor.fetchall())
    position_ids = {pk for chain in chains.values() for pk in chain}
    positions = Position.objects.select_related("site").in_bulk(position_ids)
    locations = {}
    for component_id, chain in chains.items():
        path = tuple(positions[pk] for pk in chain)
        top = path[0]
        if top.parent_id is not None:
            locations[component_id] = Location(site=None, path=path)
            continue
        cabinet = next((p for p in path if p.kind == Kind.CABINET), None)
        locations[component_id] = Location(
            site=top.site, path=path, cabinet_number=cabinet.number if cabinet else None
        )
    return locations


@dataclass(frozen=True)
class Slot:
    """One position inside a component, what it holds, and what that holds in turn."""

    position: Position
    component: Component | None
    children: tuple["Slot", ...] = ()


def contents_of(*, component: Component, at: datetime | None = None) -> tuple[Slot, ...]:
    """The tree of positions inside ``component`` at ``at`` (default now), in placement order."""
    at = at or timezone.now()
    kind_order = list(PLACEMENT)
    positions = sorted(
        Position.objects.filter(parent=component), key=lambda p: (kind_order.index(p.kind), p.number)
    )
    if not positions:
        return ()
    occupants = {
        installation.position_id: installation.component
        for installation in Installation.objects.filter(active_at(at), position__in=positions).select_related(
            "component"
        )
    }
    return tuple(
        Slot(
            position=position,
            component=occupants.get(position.pk),
            children=contents_of(component=occupants[position.pk], at=at) if position.pk in occupants else (),
        )
        for position in positions
    )


# --- Search ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssetMatches:
    """What a search text finds: sites and components, exact matches first, each list capped."""

    sites: list[Site]
    components: list[Component]
    exact_sites: frozenset[int]
    exact_components: frozenset[int]


def assets_search(*, text: str, limit: int = 25) -> AssetMatches:
    """Sites by name or PMS id, components by serial (a case's Case id, a board's hardware id) or by
    configured id, that equal or contain ``text`` (case-insensitive)."""
    text = text.strip().replace("\x00", "")  # PostgreSQL cannot compare a NUL character
    if not text:
        return AssetMatches(sites=[], components=[], exact_sites=frozenset(), exact_components=frozenset())
    site_exact = Q(name__iexact=text) | Q(pms_id__iexact=text)
    component_exact = Q(serial__iexact=text) | Q(configured_id__iexact=text)
    sites = list(
        Site.objects.filter(Q(name__icontains=text) | Q(pms_id__icontains=text))
        .annotate(exact=ExpressionWrapper(site_exact, output_field=BooleanField()))
        .order_by("-exact", "name")[:limit]
    )
    components = list(
        Component.objects.filter(Q(serial__icontains=text) | Q(configured_id__icontains=text))
        .annotate(exact=ExpressionWrapper(component_exact, output_field=BooleanField()))
        .order_by("-exact", "kind", "serial")[:limit]
    )
    return AssetMatches(
        sites=sites,
        components=components,
        exact_sites=frozenset(site.pk for site in sites if site.exact),
        exact_components=frozenset(component.pk for component in components if component.exact),
    )
