"""Every write to the asset model goes through these functions.

The admin, the web forms, the API, Celery tasks and management commands all call them, so each rule lives
here once. Errors are ``django.core.exceptions.ValidationError`` with a plain sentence naming the thing and
the place; where the error belongs to one input, it is keyed by that input's name.
"""

import re
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta
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
    Position,
    Site,
    Status,
)
from assets.selectors import installation_at, location_of_component, location_of_position

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


def _check_reason(reason):
    if len(reason) > REASON_LENGTH:
        raise ValidationError(
            {
                "reason": f"A reason has at most {REASON_LENGTH} characters, not {len(reason)}; "
                "put the details in the note."
            }
        )


def _check_time(at):
    now = timezone.now()
    at = at or now
    if at > now + timedelta(minutes=5):
        raise ValidationError({"at": "The time of a change cannot be in the future."})
    return at


# --- Sites -------------------------------------------------------------------------------------------------


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
    serials, errors, seen = [], [], {}
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
            serials.append(value)
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
    now = timezone.now()
    ComponentEvent.objects.bulk_create(
        ComponentEvent(
            component=component,
            type=ComponentEvent.Type.RECEIVED,
            occurred_at=now,
            user=user,
            to_status=component.status,
            reason=purchase_order,
        )
        for component in components
    )
    return components


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
        _check_controller_pms_id(component, installation.position, timezone.now())
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


def _check_fits(component, position):
    if component.kind != position.kind:
        raise ValidationError(
            {
                "position": f"{_describe(component)} cannot go in {position.label}: "
                f"{position.label} takes {_a_noun(position.kind)}."
            }
        )


def _check_installable(placements, at):
    """Each component of the (component, position) pairs fits its position, is in stock and was not
    installed anywhere after ``at``."""
    installed_later = {
        installation.component_id: installation
        for installation in Installation.objects.filter(
            component__in=[component for component, _ in placements], removed_at__gt=at
        ).order_by("removed_at")
    }
    for component, position in placements:
        _check_fits(component, position)
        if component.status == Status.INSTALLED:
            current = installation_at(component=component)
            where = _describe_place(current.position) if current else "somewhere"
            raise ValidationError(
                {"component": f"{_describe(component)} is installed at {where}; remove it first."}
            )
        if component.status != Status.IN_STOCK:
            raise ValidationError(
                {
                    "component": f"{_describe(component)} is {Status(component.status).label.lower()}; "
                    "only components in stock can be installed."
                }
            )
        later = installed_later.get(component.pk)
        if later is not None:
            raise ValidationError(
                {
                    "at": f"{_describe(component)} was installed elsewhere until "
                    f"{later.removed_at:%Y-%m-%d %H:%M}."
                }
            )
        _check_controller_pms_id(component, position, at)


def _check_controller_pms_id(component, position, at):
    if component.kind != Kind.CONTROLLER:
        return
    location = location_of_position(position=position, at=at)
    if location.site is not None and component.configured_id != location.site.pms_id:
        stored = component.configured_id or "no PMS id"
        raise ValidationError(
            {
                "component": f"{_describe(component)} stores {stored}, but {location} belongs to PMS "
                f"{location.site.pms_id}; configure the controller first."
            }
        )


def _check_positions_free(positions, at):
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
            f"{place} holds {occupant_name} from {occupant.installed_at:%Y-%m-%d %H:%M}; "
            f"an installation there from {at:%Y-%m-%d %H:%M} would overlap it."
        )
    raise ValidationError({"position": message})


def _open_installations(placements, *, user, at, reason, note):
    """Install each (component, position) pair at ``at``: installation, status and event, with history."""
    installations = [
        Installation(
            component=component,
            component_kind=component.kind,
            position=position,
            position_kind=position.kind,
            installed_at=at,
            installed_by=user,
            reason=reason,
            note=note,
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
        raise ValidationError({"at": f"{occupied} was occupied at {at:%Y-%m-%d %H:%M}."}) from error
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
                note=note,
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
    return installations


def _close_installation(installation, *, user, at, reason, note, new_status):
    if new_status not in RESTING_STATUSES:
        raise ValidationError(
            {
                "new_status": "A removed component is in stock, faulty, in repair or retired; "
                f"not {new_status}."
            }
        )
    if at <= installation.installed_at:
        raise ValidationError(
            {
                "at": "The removal must be after the installation at "
                f"{installation.installed_at:%Y-%m-%d %H:%M}."
            }
        )
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


def component_install(
    *,
    component: Component,
    position: Position,
    user: User | None,
    reason: str = "",
    note: str = "",
    at: datetime | None = None,
) -> Installation:
    [installation] = components_install(
        placements=[(component, position)], user=user, reason=reason, note=note, at=at
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
) -> list[Installation]:
    """Install each (component, position) pair at the same time, e.g. fill a busbar's docks. All or none."""
    _check_reason(reason)
    at = _check_time(at)
    return _install_all(placements, user=user, at=at, reason=reason, note=note)


def _install_all(placements, *, user, at, reason, note=""):
    """Install every (component, position) pair at ``at`` after checking them all: all or none."""
    repeated = [_describe(c) for c, count in Counter(c for c, _ in placements).items() if count > 1]
    repeated += [_describe_place(p) for p, count in Counter(p for _, p in placements).items() if count > 1]
    if repeated:
        raise ValidationError({"placements": [f"{name} is listed more than once." for name in repeated]})
    placements = _lock(placements)
    _check_installable(placements, at)
    _check_positions_free([position for _, position in placements], at)
    return _open_installations(placements, user=user, at=at, reason=reason, note=note)


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
    _check_reason(reason)
    at = _check_time(at)
    installation = Installation.objects.filter(component=component, removed_at__isnull=True).first()
    if installation is None:
        raise ValidationError({"component": f"{_describe(component)} is not installed anywhere."})
    [(component, _)] = _lock([(component, installation.position)])
    # Someone may have removed or swapped it while this waited for the locks.
    installation = Installation.objects.filter(pk=installation.pk, removed_at__isnull=True).first()
    if installation is None:
        raise ValidationError(
            {"component": f"{_describe(component)} was removed or swapped meanwhile. Reload and check."}
        )
    installation.component = component
    _close_installation(installation, user=user, at=at, reason=reason, note=note, new_status=new_status)
    return installation


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
) -> Installation:
    """Replace ``old_component`` at ``position`` with ``new_component`` in one transaction.

    ``old_component`` is what the engineer saw there: if someone else changed the position meanwhile, the
    swap fails with a clear error instead of replacing a component nobody looked at.
    """
    _check_reason(reason)
    at = _check_time(at)
    [(new_component, position)] = _lock([(new_component, position)])
    current = (
        Installation.objects.filter(position=position, removed_at__isnull=True)
        .select_related("component")
        .first()
    )
    place = _describe_place(position, at)
    if current is None:
        raise ValidationError({"old_component": f"{place} is empty; install instead of swapping."})
    if current.component_id != old_component.pk:
        raise ValidationError(
            {
                "old_component": f"{place} now holds {_describe(current.component)}, "
                f"not {_describe(old_component)}; "
                "someone changed it meanwhile. Reload and check."
            }
        )
    if new_component.pk == old_component.pk:
        raise ValidationError({"new_component": f"{_describe(new_component)} is already at {place}."})
    _check_installable([(new_component, position)], at)
    current.component = Component.objects.select_for_update().get(pk=current.component_id)
    _close_installation(current, user=user, at=at, reason=reason, note=note, new_status=old_component_status)
    [installation] = _open_installations(
        [(new_component, position)], user=user, at=at, reason=reason, note=note
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
    _check_reason(reason)
    at = _check_time(at)
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
