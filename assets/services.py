"""Every write to the asset model goes through these functions.

The admin, the web forms, the API, Celery tasks and management commands all call them, so each rule lives
here once. Errors are ``django.core.exceptions.ValidationError`` with a plain sentence naming the thing and
the place; where the error belongs to one input, it is keyed by that input's name.
"""

import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import update_change_reason

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


def describe(component):
    return f"{Kind(component.kind).label} {component.serial}"


def describe_place(position, at=None):
    """'PMS-01-001 cabinet 1 dock 3', or 'dock 3 of busbar BB-0012' when the busbar is not on a site."""
    location = location_of_position(position, at)
    if location.site is not None:
        return str(location)
    if position.parent_id is not None:
        return f"{position.label} of {describe(position.parent)}"
    return position.label


def _history_reason(instance, reason):
    if reason:
        update_change_reason(instance, reason[:100])


def _save_with_history(instance, *, user, reason):
    instance._history_user = user
    instance.save()
    _history_reason(instance, reason)


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


def _check_time(at):
    now = timezone.now()
    at = at or now
    if at > now + timezone.timedelta(minutes=5):
        raise ValidationError({"at": "The time of a change cannot be in the future."})
    return at


# --- Sites -------------------------------------------------------------------------------------------------


@transaction.atomic
def site_create(
    *, name, pms_id, user, time_zone="UTC", location="", notes="", cabinets=0, mppts=0, inverters=0
):
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


def site_position(*, site, kind, number):
    """The numbered cabinet, MPPT or inverter position of ``site``; created on first use within range."""
    highest = PLACEMENT[kind][1]
    if PLACEMENT[kind][0] is not None:
        raise ValidationError({"kind": f"A {Kind(kind).label.lower()} is not installed directly on a site."})
    if not 1 <= number <= highest:
        raise ValidationError(
            {
                "number": f"{Kind(kind).label} {number} does not exist: "
                f"a site has {Kind(kind).label.lower()}s 1-{highest}."
            }
        )
    position, _ = Position.objects.get_or_create(site=site, kind=kind, number=number)
    return position


def child_position(*, parent, kind, number=1):
    """Position ``number`` of ``kind`` inside ``parent``, e.g. dock 7 of a busbar, with a clear error."""
    position = (
        Position.objects.filter(parent=parent, kind=kind, number=number).select_related("parent").first()
    )
    if position is not None:
        return position
    if parent.kind == Kind.BUSBAR and kind == Kind.CASE:
        message = f"Dock {number} does not exist: busbar {parent.serial} has {parent.dock_count} docks"
    elif PLACEMENT.get(kind, (None,))[0] != parent.kind:
        message = f"A {Kind(kind).label.lower()} does not go in a {Kind(parent.kind).label.lower()}"
    else:
        highest = PLACEMENT[kind][1]
        message = (
            f"{Kind(kind).label} {number} does not exist: {describe(parent)} has "
            f"{Kind(kind).label.lower()} positions 1-{highest}"
        )
    raise ValidationError({"position": message})


# --- Procurement -------------------------------------------------------------------------------------------


def parse_serials(text):
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
    kind,
    serials,
    user,
    model_number="",
    manufacturer="",
    supplier="",
    purchase_order="",
    received_on=None,
    cost=None,
    warranty_end=None,
    batch="",
    notes="",
    dock_count=None,
    controller_type="",
    configured_ids=None,
):
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
    today = timezone.localdate()
    components = []
    for serial in serials:
        component = Component(
            kind=kind,
            serial=serial,
            model_number=model_number,
            manufacturer=manufacturer,
            supplier=supplier,
            purchase_order=purchase_order,
            received_on=received_on or today,
            cost=cost,
            warranty_end=warranty_end,
            batch=batch,
            notes=notes,
            dock_count=dock_count if kind == Kind.BUSBAR else None,
            controller_type=controller_type,
            configured_id=configured_ids.get(serial, ""),
            status=Status.IN_STOCK,
        )
        try:
            with transaction.atomic():
                _save_with_history(component, user=user, reason=f"Received on PO {purchase_order}".strip())
        except IntegrityError as error:
            raise ValidationError(
                {"serials": [f"{kind.label} {serial} could not be saved: {error}."]}
            ) from error
        _create_child_positions(component)
        _record_event(
            component, ComponentEvent.Type.RECEIVED, user=user, at=timezone.now(), reason=purchase_order
        )
        components.append(component)
    return components


def _create_child_positions(component):
    slots = list(CHILD_POSITIONS.get(component.kind, []))
    if component.kind == Kind.BUSBAR:
        slots = [(Kind.CASE, component.dock_count)]
    Position.objects.bulk_create(
        Position(parent=component, parent_kind=component.kind, kind=kind, number=n)
        for kind, count in slots
        for n in range(1, count + 1)
    )


@transaction.atomic
def component_update(*, component, user, reason="", **fields):
    """Edit descriptive and procurement fields. Kind, serial, status and dock count have their own rules."""
    forbidden = {"kind", "status", "dock_count", "id"} & fields.keys()
    if forbidden:
        raise ValidationError({name: "This cannot be edited here." for name in forbidden})
    for name, value in fields.items():
        setattr(component, name, value)
    component.full_clean()
    _save_with_history(component, user=user, reason=reason)
    return component


# --- Installation ------------------------------------------------------------------------------------------


def _lock(position, component):
    """Lock the position, then the component (always in that order), and return fresh copies."""
    position = (
        Position.objects.select_for_update(of=("self",)).select_related("parent", "site").get(pk=position.pk)
    )
    component = Component.objects.select_for_update().get(pk=component.pk)
    return position, component


def _check_fits(component, position):
    if component.kind != position.kind:
        raise ValidationError(
            {
                "position": f"{describe(component)} cannot go in {position.label}: "
                f"{position.label} takes a {Kind(position.kind).label.lower()}."
            }
        )


def _check_installable(component, at):
    if component.status == Status.INSTALLED:
        current = installation_at(component=component)
        where = describe_place(current.position) if current else "somewhere"
        raise ValidationError(
            {"component": f"{describe(component)} is installed at {where}; remove it first."}
        )
    if component.status != Status.IN_STOCK:
        raise ValidationError(
            {
                "component": f"{describe(component)} is {Status(component.status).label.lower()}; "
                "only components in stock can be installed."
            }
        )
    later = (
        Installation.objects.filter(component=component, removed_at__gt=at).order_by("-removed_at").first()
    )
    if later is not None:
        raise ValidationError(
            {"at": f"{describe(component)} was installed elsewhere until {later.removed_at:%Y-%m-%d %H:%M}."}
        )


def _check_controller_pms_id(component, position, at):
    if component.kind != Kind.CONTROLLER:
        return
    location = location_of_position(position, at)
    if location.site is not None and component.configured_id != location.site.pms_id:
        stored = component.configured_id or "no PMS id"
        raise ValidationError(
            {
                "component": f"{describe(component)} stores {stored}, but {location} belongs to PMS "
                f"{location.site.pms_id}; configure the controller first."
            }
        )


def _open_installation(component, position, *, user, at, reason, note):
    try:
        with transaction.atomic():
            installation = Installation(
                component=component,
                component_kind=component.kind,
                position=position,
                position_kind=position.kind,
                installed_at=at,
                installed_by=user,
                reason=reason,
                note=note,
            )
            _save_with_history(installation, user=user, reason=reason)
    except IntegrityError as error:
        raise ValidationError(
            {
                "at": f"{describe(component)} or {describe_place(position, at)} "
                f"was occupied at {at:%Y-%m-%d %H:%M}."
            }
        ) from error
    from_status = component.status
    component.status = Status.INSTALLED
    _save_with_history(component, user=user, reason=reason)
    _record_event(
        component,
        ComponentEvent.Type.INSTALLED,
        user=user,
        at=at,
        reason=reason,
        note=note,
        position=position,
        from_status=from_status,
    )
    return installation


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


@transaction.atomic
def component_install(*, component, position, user, reason="", note="", at=None):
    at = _check_time(at)
    position, component = _lock(position, component)
    _check_fits(component, position)
    _check_installable(component, at)
    _check_controller_pms_id(component, position, at)
    occupant = installation_at(position=position, at=at)
    if occupant is not None:
        raise ValidationError(
            {
                "position": f"{describe_place(position, at)} holds {describe(occupant.component)}; "
                "remove or swap it first."
            }
        )
    return _open_installation(component, position, user=user, at=at, reason=reason, note=note)


@transaction.atomic
def component_remove(*, component, user, reason, new_status=Status.IN_STOCK, note="", at=None):
    at = _check_time(at)
    component = Component.objects.select_for_update().get(pk=component.pk)
    installation = Installation.objects.filter(component=component, removed_at__isnull=True).first()
    if installation is None:
        raise ValidationError({"component": f"{describe(component)} is not installed anywhere."})
    Position.objects.select_for_update().get(pk=installation.position_id)
    installation.component = component
    _close_installation(installation, user=user, at=at, reason=reason, note=note, new_status=new_status)
    return installation


@transaction.atomic
def component_swap(
    *, position, old_component, new_component, user, reason, old_component_status, note="", at=None
):
    """Replace ``old_component`` at ``position`` with ``new_component`` in one transaction.

    ``old_component`` is what the engineer saw there: if someone else changed the position meanwhile, the
    swap fails with a clear error instead of replacing a component nobody looked at.
    """
    at = _check_time(at)
    position, new_component = _lock(position, new_component)
    current = (
        Installation.objects.filter(position=position, removed_at__isnull=True)
        .select_related("component")
        .first()
    )
    place = describe_place(position, at)
    if current is None:
        raise ValidationError({"old_component": f"{place} is empty; install instead of swapping."})
    if current.component_id != old_component.pk:
        raise ValidationError(
            {
                "old_component": f"{place} now holds {describe(current.component)}, "
                f"not {describe(old_component)}; "
                "someone changed it meanwhile. Reload and check."
            }
        )
    if new_component.pk == old_component.pk:
        raise ValidationError({"new_component": f"{describe(new_component)} is already at {place}."})
    _check_fits(new_component, position)
    _check_installable(new_component, at)
    _check_controller_pms_id(new_component, position, at)
    current.component = Component.objects.select_for_update().get(pk=current.component_id)
    _close_installation(current, user=user, at=at, reason=reason, note=note, new_status=old_component_status)
    return _open_installation(new_component, position, user=user, at=at, reason=reason, note=note)


def case_swap(*, dock, old_case, new_case, user, reason, old_case_status, note="", at=None):
    return component_swap(
        position=dock,
        old_component=old_case,
        new_component=new_case,
        user=user,
        reason=reason,
        old_component_status=old_case_status,
        note=note,
        at=at,
    )


@transaction.atomic
def component_set_status(*, component, status, user, reason, note=""):
    component = Component.objects.select_for_update().get(pk=component.pk)
    if status not in RESTING_STATUSES:
        raise ValidationError(
            {"status": "Installed is set by installing; choose in stock, faulty, in repair or retired."}
        )
    if component.status == Status.INSTALLED:
        location = location_of_component(component)
        raise ValidationError(
            {
                "status": f"{describe(component)} is installed at {location}; "
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
def case_assemble(*, case, user, cell_blocks, acq_board, fet_board, fets=(), reason="Assembly"):
    """Fit a case from stock: 14 cell blocks (in position order), its acquisition board, its FET board and
    optionally the FET board's 2 FETs. All or nothing."""
    if len(cell_blocks) != CELL_BLOCKS_PER_CASE:
        raise ValidationError(
            {"cell_blocks": f"A case takes {CELL_BLOCKS_PER_CASE} cell blocks, not {len(cell_blocks)}."}
        )
    if fets and len(fets) != FETS_PER_BOARD:
        raise ValidationError({"fets": f"A FET board carries {FETS_PER_BOARD} FETs, not {len(fets)}."})
    at = timezone.now()
    parts = [(Kind.CELL_BLOCK, n, block) for n, block in enumerate(cell_blocks, start=1)]
    parts += [(Kind.ACQ_BOARD, 1, acq_board), (Kind.FET_BOARD, 1, fet_board)]
    for kind, number, part in parts:
        component_install(
            component=part,
            position=child_position(parent=case, kind=kind, number=number),
            user=user,
            reason=reason,
            at=at,
        )
    for number, fet in enumerate(fets, start=1):
        component_install(
            component=fet,
            position=child_position(parent=fet_board, kind=Kind.FET, number=number),
            user=user,
            reason=reason,
            at=at,
        )
    return case
