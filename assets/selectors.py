"""Reads of the asset model. Each "as of T" question is one indexed query."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from assets.models import (
    Component,
    Installation,
    Kind,
    Position,
    Site,
    pms_dock_number,
    split_pms_dock_number,
)


def active_at(at):
    """Installations that were in place at instant ``at``."""
    return Q(installed_at__lte=at) & (Q(removed_at__isnull=True) | Q(removed_at__gt=at))


def installation_at(*, position=None, component=None, at=None):
    """The installation in ``position`` (or of ``component``) at ``at`` (default now), or None."""
    at = at or timezone.now()
    lookup = {"position": position} if position is not None else {"component": component}
    return (
        Installation.objects.filter(active_at(at), **lookup)
        .select_related("component", "position")
        .order_by("-installed_at")
        .first()
    )


def component_in_position_at(position, at=None):
    installation = installation_at(position=position, at=at)
    return installation.component if installation else None


def installations_of(component):
    """Where has this component been? Oldest first."""
    return (
        Installation.objects.filter(component=component)
        .select_related("position", "position__site", "position__parent", "installed_by", "removed_by")
        .order_by("installed_at")
    )


def case_in_pms_dock_at(*, pms_id, pms_dock, at):
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


@dataclass(frozen=True)
class Location:
    """Where a position sat at one instant: the site and the path down to it."""

    site: Site | None
    path: tuple[Position, ...]
    cabinet_number: int | None = None

    @property
    def pms_dock(self):
        leaf = self.path[-1]
        if leaf.kind != Kind.CASE or self.cabinet_number is None:
            return None
        return pms_dock_number(self.cabinet_number, leaf.number)

    def __str__(self):
        parts = [self.site.pms_id] if self.site else ["(not on a site)"]
        parts += [position.label for position in self.path if position.kind != Kind.BUSBAR]
        return " ".join(parts)


def location_of_position(position, at=None):
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


def location_of_component(component, at=None):
    """Where ``component`` was at ``at``, or None when it was not installed."""
    installation = installation_at(component=component, at=at)
    return location_of_position(installation.position, at) if installation else None


def component_by_serial(kind, serial):
    return Component.objects.filter(kind=kind, serial=serial).first()
