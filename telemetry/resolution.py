"""Time-aware identity resolution for one payload, from the assets installation records.

Each resolver runs a fixed handful of queries for the whole payload (never one per record), restricted to
installations overlapping the payload's time span, then answers per record from memory.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Q

from assets.models import Component, Installation, Kind, Site, pms_dock_number


@dataclass(frozen=True)
class Span:
    start: object
    end: object  # None: still open
    value: object

    def covers(self, moment):
        return self.start <= moment and (self.end is None or moment < self.end)


def _value_at(spans, moment):
    for span in spans:
        if span.covers(moment):
            return span.value
    return None


def _overlapping(first, last):
    return Q(installed_at__lte=last) & (Q(removed_at__isnull=True) | Q(removed_at__gt=first))


def _spans(component_ids, position_kind, first, last, *value_fields):
    """component id -> [Span(value=(value_fields...))] of its installations in positions of that kind."""
    spans = defaultdict(list)
    rows = Installation.objects.filter(
        _overlapping(first, last), component_id__in=component_ids, position_kind=position_kind
    ).values_list("component_id", "installed_at", "removed_at", *value_fields)
    for component_id, start, end, *values in rows:
        spans[component_id].append(Span(start, end, tuple(values)))
    return spans


def _intersect(outer, inner):
    start = max(outer.start, inner.start)
    ends = [end for end in (outer.end, inner.end) if end is not None]
    end = min(ends) if ends else None
    return (start, end) if end is None or start < end else None


def sites_by_pms_id(pms_ids):
    return dict(Site.objects.filter(pms_id__in=pms_ids).values_list("pms_id", "id"))


class PackResolver:
    """Pack id -> case at a time, and where the installation records put that case at a time."""

    def __init__(self, pack_ids, first, last):
        self.cases = dict(
            Component.objects.filter(kind=Kind.CASE, serial__in=pack_ids).values_list("serial", "id")
        )
        board_ids = set(pack_ids) - self.cases.keys()
        self.boards = dict(
            Component.objects.filter(kind=Kind.ACQ_BOARD, serial__in=board_ids).values_list("id", "serial")
        )
        board_spans = _spans(self.boards, Kind.ACQ_BOARD, first, last, "position__parent_id")
        self.board_cases = {self.boards[board]: spans for board, spans in board_spans.items()}
        case_ids = set(self.cases.values()) | {
            span.value[0] for spans in board_spans.values() for span in spans
        }
        self.positions = self._recorded_positions(case_ids, first, last)
        self._last_span = {}  # case id -> the span that answered last: consecutive samples share it

    def case_at(self, pack_id, moment):
        """(case id, None) or (None, the reason it cannot be resolved)."""
        case_id = self.cases.get(pack_id)
        if case_id is not None:
            return case_id, None
        spans = self.board_cases.get(pack_id)
        if spans is None:
            if pack_id in self.boards.values():
                return None, f"acquisition board {pack_id!r} was not in any case at {moment.isoformat()}"
            return None, f"{pack_id!r} is neither a known Case id nor a known acquisition board id"
        value = _value_at(spans, moment)
        if value is None:
            return None, f"acquisition board {pack_id!r} was not in any case at {moment.isoformat()}"
        return value[0], None

    def recorded_position_at(self, case_id, moment):
        """(site id, PMS-wide dock) the installation records give for the case at ``moment``, or None."""
        span = self._last_span.get(case_id)
        if span is not None and span.start <= moment and (span.end is None or moment < span.end):
            return span.value
        span = next((span for span in self.positions.get(case_id, ()) if span.covers(moment)), None)
        self._last_span[case_id] = span
        return span.value if span else None

    @staticmethod
    def _recorded_positions(case_ids, first, last):
        """case id -> [Span(value=(site id, PMS dock))], from case, busbar and cabinet installations."""
        in_docks = _spans(case_ids, Kind.CASE, first, last, "position__parent_id", "position__number")
        busbars = {span.value[0] for spans in in_docks.values() for span in spans}
        in_cabinets = _spans(busbars, Kind.BUSBAR, first, last, "position__parent_id")
        cabinets = {span.value[0] for spans in in_cabinets.values() for span in spans}
        on_sites = _spans(cabinets, Kind.CABINET, first, last, "position__site_id", "position__number")
        positions = defaultdict(list)
        for case_id, dock_spans in in_docks.items():
            for dock in dock_spans:
                busbar, dock_number = dock.value
                for cabinet in in_cabinets.get(busbar, ()):
                    for site in on_sites.get(cabinet.value[0], ()):
                        both = _intersect(dock, cabinet)
                        overlap = both and _intersect(Span(*both, None), site)
                        if overlap:
                            site_id, cabinet_number = site.value
                            value = (site_id, pms_dock_number(cabinet_number, dock_number))
                            positions[case_id].append(Span(*overlap, value))
        return positions


class DeviceResolver:
    """MPPT / inverter device id -> component, and the site it was installed on at a time."""

    def __init__(self, kind, device_ids, first, last):
        self.kind = kind
        self.devices = dict(
            Component.objects.filter(kind=kind, configured_id__in=device_ids).values_list(
                "configured_id", "id"
            )
        )
        self.sites = _spans(self.devices.values(), kind, first, last, "position__site_id")

    def site_at(self, component_id, moment):
        value = _value_at(self.sites.get(component_id, ()), moment)
        return value[0] if value else None
