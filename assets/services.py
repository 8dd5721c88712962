"""Every write to the asset model goes through these functions.

The admin, the web forms, the API, Celery tasks and management commands all call them, so each rule lives
here once. Errors are ``django.core.exceptions.ValidationError`` with a plain sentence naming the thing and
the place; where the error belongs to one input, it is keyed by that input's name.
"""

import re
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from assets.models import (
    CELL_BLOCKS_PER_CASE,
    FETS_PER_BOARD,
    MAX_DOCKS,
    MIN_DOCKS,
    PLACEMENT,
    Component,
    ComponentEvent,
    ControllerType,
    Installation,
    Kind,
    PartModel,
    Position,
    Site,
    Status,
)
from assets.selectors import active_at, installation_at, location_of_component, location_of_position
from assets.signals import installations_changed
from pms_site.timefmt import format_datetime

SERIAL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
# The positions a component of each kind brings with it when it is received.
CHILD_POSITIONS = {
    Kind.CABINET: [(Kind.CONTROLLER, 1), (Kind.BUSBAR, 1)],
    Kind.CASE: [(Kind.CELL_BLOCK, CELL_BLOCKS_PER_CASE), (Kind.ACQ_BOARD, 1), (Kind.FET_BOARD, 1)],
    Kind.FET_BOARD: [(Kind.FET, FETS_PER_BOARD)],
}
# Statuses a removed component may go to, and statuses set_status may set.
RESTING_STATUSES = [Status.IN_STOCK, Status.FAULTY, Status.IN_REPAIR, Status.RETIRED]
# Kinds whose configured id (the device id in their telemetry) is unique; see the model's constraints.
DEVICE_ID_UNIQUE_KINDS = [Kind.MPPT, Kind.INVERTER]
# What component_update may change; kind, status and dock count follow their own rules.
EDITABLE_FIELDS = {
    "serial",
    "model_number",
    "manufacturer",
    "supplier",
    "purchase_order",
    "received_on",
    "cost",
    "warranty_end",
    "batch",
    "notes",
    "configured_id",
    "controller_type",
}


def noun(*, kind: str) -> str:
    """The kind as a word within a sentence: 'acquisition board', but 'FET board'."""
    label = Kind(kind).label
    return label if label[:2].isupper() else label[0].lower() + label[1:]


def counted(*, count: int, kind: str) -> str:
    """'1 case', '5 cases', '2 FET boards'."""
    return f"{count} {noun(kind=kind)}{'' if count == 1 else 's'}"


def _a_noun(kind, *, start=False):
    """'an acquisition board', 'a FET'; 'An ...' when ``start``s a sentence."""
    word = noun(kind=kind)
    article = "an" if word[0] in "aeiouAEIOU" else "a"
    return f"{article.capitalize() if start else article} {word}"


def _describe(component):
    return f"{Kind(component.kind).label} {component.serial}"


def _describe_place(position, at=None):
    """'PMS-01-001 cabinet 1 dock 3', or 'dock 3 of busbar BB-0012' when the busbar is not on a site."""
    location = location_of_position(position=position, at=at)
    if location.site is not None:
        return str(location)
    if position.parent_id is not None:
        return f"{position.label} of {_describe(position.parent)}"
    return position.label


REASON_LENGTH = Installation._meta.get_field("reason").max_length
# django-simple-history keeps at most this many characters of a change reason.
HISTORY_REASON_LENGTH = 100


def _save_with_history(instance, *, user, reason):
    """Save ``instance``; its history record names ``user`` and ``reason``."""
    instance._history_user = user
    instance._change_reason = reason[:HISTORY_REASON_LENGTH] or None
    instance.save()


def _record_event(component, event_type, *, user, at, reason="", note="", position=None, from_status=""):
    ComponentEvent.objects.create(
        component=component,
        type=event_type,
        occurred_at=at,
        user=user,
        position=position,
        from_status=from_status,
        to_status=component.status,
        reason=reason,
        note=note,
    )


class Problems:
    """Every reason a change is refused, each keyed by the input it belongs to, raised together: a form's
    review shows them all beside their fields, before the change is confirmed."""

    def __init__(self):
        self.messages: dict[str, list[str]] = {}

    def add(self, key: str, message: str) -> None:
        self.messages.setdefault(key, []).append(message)

    def raise_any(self) -> None:
        if self.messages:
            raise ValidationError(self.messages)


def _reason_problems(problems, reason):
    if len(reason) > REASON_LENGTH:
        problems.add(
            "reason",
            f"A reason has at most {REASON_LENGTH} characters, not {len(reason)}; "
            "put the details in the note.",
        )


def _time_problems(problems, at):
    if at > timezone.now() + timedelta(minutes=5):
        problems.add("at", "The time of a change cannot be in the future.")


def _change_problems(*, reason, at):
    """The problems of the reason and time every change has."""
    problems = Problems()
    _reason_problems(problems, reason)
    _time_problems(problems, at)
    return problems


def _check_reason(reason):
    problems = Problems()
    _reason_problems(problems, reason)
    problems.raise_any()


# --- Sites -------------------------------------------------------------------------------------------------


def part_model_create(
    *,
    model_number: str,
    kind: str,
    nominal_ah: Decimal | None = None,
    nominal_volts: Decimal | None = None,
    manufacturer: str = "",
    description: str = "",
) -> PartModel:
    """A part catalogue entry: the nominal figures of every component of ``model_number``."""
    part = PartModel(
        model_number=model_number,
        kind=kind,
        nominal_ah=nominal_ah,
        nominal_volts=nominal_volts,
        manufacturer=manufacturer,
        description=description,
    )
    part.full_clean()
    part.save()
    return part


@transaction.atomic
def site_create(
    *,
    name: str,
    pms_id: str,
    user: User | None,
    time_zone: str = "UTC",
    location: str = "",
    notes: str = "",
    cabinets: int = 0,
    mppts: int = 0,
    inverters: int = 0,
) -> Site:
    """A site with its PMS id, and empty cabinet, MPPT and inverter positions."""
    if not 0 <= cabinets <= PLACEMENT[Kind.CABINET][1]:
        raise ValidationError({"cabinets": f"A PMS has 1-4 cabinets, not {cabinets}."})
    site = Site(name=name, pms_id=pms_id, time_zone=time_zone, location=location, notes=notes)
    site.full_clean()
    site._history_user = user
    site.save()
    for kind, count in ((Kind.CABINET, cabinets), (Kind.MPPT, mppts), (Kind.INVERTER, inverters)):
        Position.objects.bulk_create(Position(site=site, kind=kind, number=n) for n in range(1, count + 1))
    return site


def site_position_get_or_create(*, site: Site, kind: str, number: int) -> Position:
    """The numbered cabinet, MPPT or inverter position of ``site``; created on first use within range."""
    highest = PLACEMENT[kind][1]
    if PLACEMENT[kind][0] is not None:
        raise ValidationError({"kind": f"{_a_noun(kind, start=True)} is not installed directly on a site."})
    if not 1 <= number <= highest:
        raise ValidationError(
            {
                "number": f"{Kind(kind).label} {number} does not exist: a site has "
                f"{noun(kind=kind)}s 1-{highest}."
            }
        )
    position, _ = Position.objects.get_or_create(site=site, kind=kind, number=number)
    return position


def child_position_get(*, parent: Component, kind: str, number: int = 1) -> Position:
    """Position ``number`` of ``kind`` inside ``parent``, e.g. dock 7 of a busbar, with a clear error."""
    position = (
        Position.objects.filter(parent=parent, kind=kind, number=number).select_related("parent").first()
    )
    if position is not None:
        return position
    if parent.kind == Kind.BUSBAR and kind == Kind.CASE:
        message = f"Dock {number} does not exist: busbar {parent.serial} has {parent.dock_count} docks"
    elif PLACEMENT.get(kind, (None,))[0] != parent.kind:
        message = f"{_a_noun(kind, start=True)} does not go in {_a_noun(parent.kind)}"
    else:
        highest = PLACEMENT[kind][1]
        message = (
            f"{Kind(kind).label} {number} does not exist: {_describe(parent)} has "
            f"{noun(kind=kind)} positions 1-{highest}"
        )
    raise ValidationError({"position": message})


# --- Procurement -------------------------------------------------------------------------------------------


def parse_serials(*, text: str) -> tuple[list[str], list[str]]:
    """Serials from a pasted list or a CSV: the first column of each non-blank line, header lines skipped.

    Returns (serials, errors) where errors name the line and the problem.
    """
    lines, errors = parse_serial_lines(text=text)
    return list(lines.values()), errors


def parse_serial_lines(*, text: str) -> tuple[dict[int, str], list[str]]:
    """As parse_serials, with each serial keyed by its line number: ({line number: serial}, errors)."""
    serials, errors, seen = {}, [], {}
    for line_number, line in enumerate(text.splitlines(), start=1):
        value = line.split(",")[0].split(";")[0].split("\t")[0].strip().strip('"')
        if not value or (line_number == 1 and value.lower() in {"serial", "serial number", "id", "case id"}):
            continue
        if not SERIAL_PATTERN.match(value):
            errors.append(
                f"Line {line_number}: {value!r} is not a valid serial "
                "(letters, digits, '.', '_', '/', '-'; at most 64 characters)."
            )
        elif value in seen:
            errors.append(f"Line {line_number}: {value} is repeated (first on line {seen[value]}).")
        else:
            seen[value] = line_number
            serials[line_number] = value
    return serials, errors


@transaction.atomic
def components_receive(
    *,
    kind: str,
    serials: list[str],
    user: User | None,
    model_number: str = "",
    manufacturer: str = "",
    supplier: str = "",
    purchase_order: str = "",
    received_on: date | None = None,
    cost: Decimal | None = None,
    warranty_end: date | None = None,
    batch: str = "",
    notes: str = "",
    dock_count: int | None = None,
    controller_type: str = "",
    configured_ids: dict[str, str] | None = None,
) -> list[Component]:
    """Receive a shipment: one in-stock component per serial, all or none.

    ``configured_ids`` optionally maps a serial to its configured id (Case id on a board, PMS id on a
    controller, device id of an MPPT or inverter).
    """
    kind = Kind(kind)
    errors = []
    if not serials:
        errors.append("No serials given.")
    for serial in serials:
        if not SERIAL_PATTERN.match(serial):
            errors.append(f"{serial!r} is not a valid serial.")
    duplicates = sorted({s for s in serials if serials.count(s) > 1})
    errors += [f"{serial} is listed more than once." for serial in duplicates]
    existing = Component.objects.filter(kind=kind, serial__in=serials).values_list("serial", "status")
    errors += [
        f"{kind.label} {serial} already exists ({Status(status).label.lower()})."
        for serial, status in existing
    ]
    if kind in DEVICE_ID_UNIQUE_KINDS and configured_ids:
        taken = Component.objects.filter(kind=kind, configured_id__in=configured_ids.values())
        errors += [f"Device id {other.configured_id} is already {_describe(other)}'s." for other in taken]
    if errors:
        raise ValidationError({"serials": errors})
    if kind == Kind.BUSBAR and not (dock_count and MIN_DOCKS <= dock_count <= MAX_DOCKS):
        raise ValidationError(
            {"dock_count": f"A busbar has {MIN_DOCKS}-{MAX_DOCKS} docks; give its dock count."}
        )
    if kind != Kind.BUSBAR and dock_count:
        raise ValidationError({"dock_count": "Only busbars have a dock count."})
    if kind == Kind.CONTROLLER and controller_type not in ControllerType.values:
        raise ValidationError({"controller_type": "A controller is an EHub or a BBC; choose one."})
    if kind != Kind.CONTROLLER and controller_type:
        raise ValidationError({"controller_type": "Only controllers have a controller type."})

    configured_ids = configured_ids or {}
    reason = f"Received on PO {purchase_order}" if purchase_order else "Received"
    components = [
        Component(
            kind=kind,
            serial=serial,
            model_number=model_number,
            manufacturer=manufacturer,
            supplier=supplier,
            purchase_order=purchase_order,
            received_on=received_on or timezone.localdate(),
            cost=cost,
            warranty_end=warranty_end,
            batch=batch,
            notes=notes,
            dock_count=dock_count if kind == Kind.BUSBAR else None,
            controller_type=controller_type,
            configured_id=configured_ids.get(serial, ""),
            status=Status.IN_STOCK,
        )
        for serial in serials
    ]
    for component in components:
        component.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            components = bulk_create_with_history(
                components, Component, default_user=user, default_change_reason=reason
            )
    except IntegrityError as error:
        # Only a receive of the same serials (or device ids) committed meanwhile gets here.
        raise ValidationError(
            {"serials": [f"{kind.label} serials or configured ids were taken meanwhile: {error}"]}
        ) from error
    _create_child_positions(components, user=user)
    received_at = _start_of_day(received_on) if received_on else timezone.now()
    ComponentEvent.objects.bulk_create(
        ComponentEvent(
            component=component,
            type=ComponentEvent.Type.RECEIVED,
            occurred_at=received_at,
            user=user,
            to_status=component.status,
            reason=purchase_order,
        )
        for component in components
    )
    return components


def _start_of_day(day):
    """The first instant of ``day`` in the current time zone: a date received is before all else that day;
    today, which has begun, is now."""
    if day >= timezone.localdate():
        return timezone.now()
    return datetime.combine(day, time(0), tzinfo=timezone.get_current_timezone())


def _create_child_positions(components, *, user=None):
    """The empty positions that come with each component: docks of a busbar, cell blocks of a case ..."""
    positions = []
    for component in components:
        slots = CHILD_POSITIONS.get(component.kind, [])
        if component.kind == Kind.BUSBAR:
            slots = [(Kind.CASE, component.dock_count)]
        positions += [
            Position(parent=component, parent_kind=component.kind, kind=kind, number=n)
            for kind, count in slots
            for n in range(1, count + 1)
        ]
    bulk_create_with_history(positions, Position, default_user=user)


@transaction.atomic
def component_update(
    *, component: Component, user: User | None, reason: str = "", **fields: Any
) -> Component:
    """Edit descriptive and procurement fields (EDITABLE_FIELDS), e.g. correct a mistyped serial."""
    not_editable = fields.keys() - EDITABLE_FIELDS
    if not_editable:
        raise ValidationError({name: "This cannot be edited here." for name in sorted(not_editable)})
    for name, value in fields.items():
        setattr(component, name, value)
    component.full_clean()
    installation = installation_at(component=component)
    if installation is not None:
        problems = Problems()
        _controller_problems(problems, component, installation.position, timezone.now())
        problems.raise_any()
    _save_with_history(component, user=user, reason=reason)
    return component


# --- Installation ------------------------------------------------------------------------------------------


def _lock(placements):
    """Lock the positions, then the components of (component, position) pairs, and return fresh copies.

    Every write locks positions before components, each in primary-key order, so writers never deadlock.
    """
    positions = Position.objects.select_for_update(of=("self",)).select_related("parent", "site")
    positions = positions.order_by("pk").in_bulk([position.pk for _, position in placements])
    components = Component.objects.select_for_update().order_by("pk")
    components = components.in_bulk([component.pk for component, _ in placements])
    return [(components[component.pk], positions[position.pk]) for component, position in placements]


def _installable_problems(problems, placements, at):
    """Each component of the (component, position) pairs fits its position, is in stock and was not
    installed anywhere after ``at``."""
    installed_later = {
        installation.component_id: installation
        for installation in Installation.objects.filter(
            component__in=[component for component, _ in placements], removed_at__gt=at
        ).order_by("removed_at")
    }
    for component, position in placements:
        if component.kind != position.kind:
            problems.add(
                "position",
                f"{_describe(component)} cannot go in {position.label}: "
                f"{position.label} takes {_a_noun(position.kind)}.",
            )
            continue
        if component.status == Status.INSTALLED:
            current = installation_at(component=component)
            where = _describe_place(current.position) if current else "somewhere"
            problems.add("component", f"{_describe(component)} is installed at {where}; remove it first.")
        elif component.status != Status.IN_STOCK:
            problems.add(
                "component",
                f"{_describe(component)} is {Status(component.status).label.lower()}; "
                "only components in stock can be installed.",
            )
        later = installed_later.get(component.pk)
        if later is not None:
            problems.add(
                "at",
                f"{_describe(component)} was installed elsewhere until {format_datetime(later.removed_at)}.",
            )
        _controller_problems(problems, component, position, at)


def _controller_problems(problems, component, position, at):
    if component.kind != Kind.CONTROLLER:
        return
    location = location_of_position(position=position, at=at)
    if location.site is not None and component.configured_id != location.site.pms_id:
        stored = component.configured_id or "no PMS id"
        problems.add(
            "component",
            f"{_describe(component)} stores {stored}, but {location} belongs to PMS "
            f"{location.site.pms_id}; configure the controller first.",
        )


def incomplete_cases(*, placements: Sequence[tuple[Component, Position]], at: datetime) -> dict[int, str]:
    """{case id: what it lacks at ``at``} for the cases of the (component, position) pairs going into a dock
    without all of their cell blocks, their acquisition board and their FET board."""
    cases = [component for component, position in placements if position.kind == Kind.CASE]
    if not cases:
        return {}
    fitted = Counter(
        Installation.objects.filter(active_at(at), position__parent__in=cases).values_list(
            "position__parent_id", "position_kind"
        )
    )
    missing = {}
    for case in cases:
        lacks = [
            f"its {noun(kind=kind)}"
            if count == 1
            else f"{count - fitted[(case.pk, kind)]} of {count} {noun(kind=kind)}s"
            for kind, count in CHILD_POSITIONS[Kind.CASE]
            if fitted[(case.pk, kind)] < count
        ]
        if lacks:
            missing[case.pk] = f"{_describe(case)} lacks {_join(lacks)}"
    return missing


def _join(words):
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _incomplete_problems(problems, placements, at, *, confirm_incomplete):
    """Incomplete cases go into a dock only with ``confirm_incomplete``."""
    if not confirm_incomplete:
        for lacks in incomplete_cases(placements=placements, at=at).values():
            problems.add(
                "confirm_incomplete", f"{lacks}. Confirm “install incomplete case” to install it as it is."
            )


def _incomplete_notes(placements, at):
    """{case id: the line recorded with its installation} for the cases installed incomplete, as confirmed."""
    missing = incomplete_cases(placements=placements, at=at)
    return {pk: f"Installed incomplete, as confirmed: {lacks}." for pk, lacks in missing.items()}


def _occupied_problems(problems, positions, at):
    """No position holds anything at ``at`` or later (an installation from ``at`` on is open-ended)."""
    occupant = (
        Installation.objects.filter(Q(removed_at__isnull=True) | Q(removed_at__gt=at), position__in=positions)
        .select_related("component", "position")
        .order_by("installed_at")
        .first()
    )
    if occupant is None:
        return
    place, occupant_name = _describe_place(occupant.position, at), _describe(occupant.component)
    if occupant.installed_at <= at:
        message = f"{place} holds {occupant_name}; remove or swap it first."
    else:
        message = (
            f"{place} holds {occupant_name} from {format_datetime(occupant.installed_at)}; "
            f"an installation there from {format_datetime(at)} would overlap it."
        )
    problems.add("position", message)


def _install_problems(placements, *, reason, at, confirm_incomplete=False):
    """Every reason installing the (component, position) pairs at ``at`` is refused."""
    problems = _change_problems(reason=reason, at=at)
    _installable_problems(problems, placements, at)
    _incomplete_problems(problems, placements, at, confirm_incomplete=confirm_incomplete)
    _occupied_problems(problems, [position for _, position in placements], at)
    return problems


def _open_installations(placements, *, user, at, reason, note, notes=None):
    """Install each (component, position) pair at ``at``: installation, status and event, with history.
    ``notes``: {component id: a line added to that one's note}."""
    notes = {pk: f"{note}\n{line}".strip() for pk, line in (notes or {}).items()}
    installations = [
        Installation(
            component=component,
            component_kind=component.kind,
            position=position,
            position_kind=position.kind,
            installed_at=at,
            installed_by=user,
            reason=reason,
            note=notes.get(component.pk, note),
        )
        for component, position in placements
    ]
    try:
        with transaction.atomic():
            installations = bulk_create_with_history(
                installations, Installation, default_user=user, default_change_reason=reason or None
            )
    except IntegrityError as error:
        # Only a concurrent write of a past installation gets past the checks made under the locks.
        occupied = " or ".join(
            f"{_describe(component)} or {_describe_place(position, at)}" for component, position in placements
        )
        raise ValidationError({"at": f"{occupied} was occupied at {format_datetime(at)}."}) from error
    events = []
    for component, position in placements:
        events.append(
            ComponentEvent(
                component=component,
                type=ComponentEvent.Type.INSTALLED,
                occurred_at=at,
                user=user,
                position=position,
                from_status=component.status,
                to_status=Status.INSTALLED,
                reason=reason,
                note=notes.get(component.pk, note),
            )
        )
        component.status = Status.INSTALLED
        component.updated_at = timezone.now()
    bulk_update_with_history(
        [component for component, _ in placements],
        Component,
        ["status", "updated_at"],
        default_user=user,
        default_change_reason=reason or None,
    )
    ComponentEvent.objects.bulk_create(events)
    installations_changed.send(sender=Installation, installations=installations, user=user)
    return installations


def _removal_problems(problems, installation, *, at, new_status):
    if new_status not in RESTING_STATUSES:
        problems.add(
            "new_status",
            f"A removed component is in stock, faulty, in repair or retired; not {new_status or 'nothing'}.",
        )
    if at <= installation.installed_at:
        problems.add(
            "at",
            f"The removal must be after the installation at {format_datetime(installation.installed_at)}.",
        )


def _close_installation(installation, *, user, at, reason, note, new_status):
    """Close ``installation`` at ``at``, checked by _removal_problems."""
    installation.removed_at = at
    installation.removed_by = user
    installation.removal_reason = reason
    if note:
        installation.note = f"{installation.note}\n{note}".strip()
    _save_with_history(installation, user=user, reason=reason)
    component = installation.component
    from_status = component.status
    component.status = new_status
    _save_with_history(component, user=user, reason=reason)
    _record_event(
        component,
        ComponentEvent.Type.REMOVED,
        user=user,
        at=at,
        reason=reason,
        note=note,
        position=installation.position,
        from_status=from_status,
    )
    installations_changed.send(sender=Installation, installations=[installation], user=user)


def component_install_check(
    *,
    component: Component,
    position: Position,
    reason: str = "",
    at: datetime | None = None,
    confirm_incomplete: bool = False,
) -> None:
    """Raise every reason component_install would refuse these inputs, all at once; write nothing.

    component_install runs the same checks again under its locks."""
    problems = _install_problems(
        [(component, position)], reason=reason, at=at or timezone.now(), confirm_incomplete=confirm_incomplete
    )
    problems.raise_any()


def component_install(
    *,
    component: Component,
    position: Position,
    user: User | None,
    reason: str = "",
    note: str = "",
    at: datetime | None = None,
    confirm_incomplete: bool = False,
) -> Installation:
    [installation] = components_install(
        placements=[(component, position)],
        user=user,
        reason=reason,
        note=note,
        at=at,
        confirm_incomplete=confirm_incomplete,
    )
    return installation


@transaction.atomic
def components_install(
    *,
    placements: Sequence[tuple[Component, Position]],
    user: User | None,
    reason: str = "",
    note: str = "",
    at: datetime | None = None,
    confirm_incomplete: bool = False,
) -> list[Installation]:
    """Install each (component, position) pair at the same time, e.g. fill a busbar's docks. All or none.

    A case that lacks cell blocks, its acquisition board or its FET board goes into a dock only with
    ``confirm_incomplete``; what it lacks is then recorded in its installation's note."""
    return _install_all(
        placements,
        user=user,
        at=at or timezone.now(),
        reason=reason,
        note=note,
        confirm_incomplete=confirm_incomplete,
    )


def _install_all(placements, *, user, at, reason, note="", confirm_incomplete=False):
    """Install every (component, position) pair at ``at`` after checking them all: all or none."""
    repeated = [_describe(c) for c, count in Counter(c for c, _ in placements).items() if count > 1]
    repeated += [_describe_place(p) for p, count in Counter(p for _, p in placements).items() if count > 1]
    if repeated:
        raise ValidationError({"placements": [f"{name} is listed more than once." for name in repeated]})
    placements = _lock(placements)
    _install_problems(placements, reason=reason, at=at, confirm_incomplete=confirm_incomplete).raise_any()
    notes = _incomplete_notes(placements, at)
    return _open_installations(placements, user=user, at=at, reason=reason, note=note, notes=notes)


def _remove_problems(*, component, reason, new_status, at):
    """Every reason removing ``component`` at ``at`` is refused, and its open installation (or None)."""
    problems = _change_problems(reason=reason, at=at)
    installation = (
        Installation.objects.filter(component=component, removed_at__isnull=True)
        .select_related("position")
        .first()
    )
    if installation is None:
        problems.add("component", f"{_describe(component)} is not installed anywhere.")
    else:
        _removal_problems(problems, installation, at=at, new_status=new_status)
    return problems, installation


def component_remove_check(
    *, component: Component, reason: str, new_status: str, at: datetime | None = None
) -> None:
    """Raise every reason component_remove would refuse these inputs, all at once; write nothing."""
    problems, _ = _remove_problems(
        component=component, reason=reason, new_status=new_status, at=at or timezone.now()
    )
    problems.raise_any()


@transaction.atomic
def component_remove(
    *,
    component: Component,
    user: User | None,
    reason: str,
    new_status: str = Status.IN_STOCK,
    note: str = "",
    at: datetime | None = None,
) -> Installation:
    at = at or timezone.now()
    checks = {"component": component, "reason": reason, "new_status": new_status, "at": at}
    problems, seen = _remove_problems(**checks)
    problems.raise_any()
    [(component, _)] = _lock([(component, seen.position)])
    # Someone may have removed or swapped it while this waited for the locks: check again, under them.
    problems, installation = _remove_problems(**checks)
    if installation is None or installation.pk != seen.pk:
        raise ValidationError(
            {"component": f"{_describe(component)} was removed or swapped meanwhile. Reload and check."}
        )
    problems.raise_any()
    installation.component = component
    _close_installation(installation, user=user, at=at, reason=reason, note=note, new_status=new_status)
    return installation


def _swap_problems(
    *, position, old_component, new_component, reason, old_component_status, at, confirm_incomplete=False
):
    """Every reason swapping ``new_component`` for ``old_component`` at ``position`` is refused, and the
    position's open installation (or None)."""
    problems = _change_problems(reason=reason, at=at)
    current = (
        Installation.objects.filter(position=position, removed_at__isnull=True)
        .select_related("component")
        .first()
    )
    place = _describe_place(position, at)
    if current is None:
        problems.add("old_component", f"{place} is empty; install instead of swapping.")
    elif current.component_id != old_component.pk:
        problems.add(
            "old_component",
            f"{place} now holds {_describe(current.component)}, not {_describe(old_component)}; "
            "someone changed it meanwhile. Reload and check.",
        )
    else:
        _removal_problems(problems, current, at=at, new_status=old_component_status)
    if new_component.pk == old_component.pk:
        problems.add("new_component", f"{_describe(new_component)} is already at {place}.")
    else:
        _installable_problems(problems, [(new_component, position)], at)
        _incomplete_problems(problems, [(new_component, position)], at, confirm_incomplete=confirm_incomplete)
    return problems, current


def component_swap_check(
    *,
    position: Position,
    old_component: Component,
    new_component: Component,
    reason: str,
    old_component_status: str,
    at: datetime | None = None,
    confirm_incomplete: bool = False,
) -> None:
    """Raise every reason component_swap would refuse these inputs, all at once; write nothing.

    component_swap runs the same checks again under its locks."""
    problems, _ = _swap_problems(
        position=position,
        old_component=old_component,
        new_component=new_component,
        reason=reason,
        old_component_status=old_component_status,
        at=at or timezone.now(),
        confirm_incomplete=confirm_incomplete,
    )
    problems.raise_any()


@transaction.atomic
def component_swap(
    *,
    position: Position,
    old_component: Component,
    new_component: Component,
    user: User | None,
    reason: str,
    old_component_status: str,
    note: str = "",
    at: datetime | None = None,
    confirm_incomplete: bool = False,
) -> Installation:
    """Replace ``old_component`` at ``position`` with ``new_component`` in one transaction.

    ``old_component`` is what the engineer saw there: if someone else changed the position meanwhile, the
    swap fails with a clear error instead of replacing a component nobody looked at. An incomplete case
    needs ``confirm_incomplete``, as in ``components_install``.
    """
    at = at or timezone.now()
    [(new_component, position)] = _lock([(new_component, position)])
    problems, current = _swap_problems(
        position=position,
        old_component=old_component,
        new_component=new_component,
        reason=reason,
        old_component_status=old_component_status,
        at=at,
        confirm_incomplete=confirm_incomplete,
    )
    problems.raise_any()
    current.component = Component.objects.select_for_update().get(pk=current.component_id)
    _close_installation(current, user=user, at=at, reason=reason, note=note, new_status=old_component_status)
    notes = _incomplete_notes([(new_component, position)], at)
    [installation] = _open_installations(
        [(new_component, position)], user=user, at=at, reason=reason, note=note, notes=notes
    )
    return installation


@transaction.atomic
def component_set_status(
    *, component: Component, status: str, user: User | None, reason: str, note: str = ""
) -> Component:
    _check_reason(reason)
    component = Component.objects.select_for_update().get(pk=component.pk)
    if status not in RESTING_STATUSES:
        raise ValidationError(
            {"status": "Installed is set by installing; choose in stock, faulty, in repair or retired."}
        )
    if component.status == Status.INSTALLED:
        location = location_of_component(component=component)
        raise ValidationError(
            {
                "status": f"{_describe(component)} is installed at {location}; "
                "remove it first, choosing its new status."
            }
        )
    if not reason:
        raise ValidationError({"reason": "Give a reason for the status change."})
    from_status = component.status
    component.status = status
    _save_with_history(component, user=user, reason=reason)
    _record_event(
        component,
        ComponentEvent.Type.STATUS_CHANGED,
        user=user,
        at=timezone.now(),
        reason=reason,
        note=note,
        from_status=from_status,
    )
    return component


@transaction.atomic
def case_assemble(
    *,
    case: Component,
    user: User | None,
    cell_blocks: Sequence[Component],
    acq_board: Component,
    fet_board: Component,
    fets: Sequence[Component] = (),
    reason: str = "Assembly",
    at: datetime | None = None,
) -> Component:
    """Fit a case from stock: 14 cell blocks (in position order), its acquisition board, its FET board and
    optionally the FET board's 2 FETs. All or nothing."""
    at = at or timezone.now()
    _change_problems(reason=reason, at=at).raise_any()
    if len(cell_blocks) != CELL_BLOCKS_PER_CASE:
        raise ValidationError(
            {"cell_blocks": f"A case takes {CELL_BLOCKS_PER_CASE} cell blocks, not {len(cell_blocks)}."}
        )
    if fets and len(fets) != FETS_PER_BOARD:
        raise ValidationError({"fets": f"A FET board carries {FETS_PER_BOARD} FETs, not {len(fets)}."})
    expected_kinds = [
        ("case", Kind.CASE, [case]),
        ("cell_blocks", Kind.CELL_BLOCK, cell_blocks),
        ("acq_board", Kind.ACQ_BOARD, [acq_board]),
        ("fet_board", Kind.FET_BOARD, [fet_board]),
        ("fets", Kind.FET, fets),
    ]
    wrong_kinds = {
        field: f"{_describe(part)} is not {_a_noun(kind)}."
        for field, kind, parts in expected_kinds
        for part in parts
        if part.kind != kind
    }
    if wrong_kinds:
        raise ValidationError(wrong_kinds)
    parts = [(case, Kind.CELL_BLOCK, n, block) for n, block in enumerate(cell_blocks, start=1)]
    parts += [(case, Kind.ACQ_BOARD, 1, acq_board), (case, Kind.FET_BOARD, 1, fet_board)]
    parts += [(fet_board, Kind.FET, n, fet) for n, fet in enumerate(fets, start=1)]
    slots = {
        (p.parent_id, p.kind, p.number): p for p in Position.objects.filter(parent__in=[case, fet_board])
    }
    placements = [
        (
            part,
            slots.get((parent.pk, kind, number))
            or child_position_get(parent=parent, kind=kind, number=number),
        )
        for parent, kind, number, part in parts
    ]
    _install_all(placements, user=user, at=at, reason=reason)
    return case
