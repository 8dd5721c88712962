"""Field engineers' forms: install into, replace at, or remove from one position (a dock, a case's part).

The forms only turn input into objects; the rules live in ``assets.services`` (and ``telemetry.services`` for
the discrepancy a change resolves). Each form's ``review`` runs the service's own checks (its ``*_check``
function) so every problem shows before Confirm; ``apply`` calls the service, which checks again under its
locks. ``SERVICE_FIELDS`` says which form field a service error belongs beside.
"""

from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorList
from django.utils import timezone

from assets import services
from assets.models import Component, Kind, Status
from assets.selectors import component_by_serial, component_in_position_at
from pms_site.forms import StorableDateTimeField
from stock import selectors as stock_selectors
from stock import services as stock_services
from stock.models import StockLocation
from telemetry import services as telemetry_services
from telemetry.models import Discrepancy
from web.scan import serial_from_scan

# No default: the engineer says what becomes of what comes out.
REMOVED_STATUS_CHOICES = [("", "Choose…")] + [
    (status.value, status.label) for status in services.RESTING_STATUSES
]


def serial_label(*, kind: str) -> str:
    return "Case id" if kind == Kind.CASE else f"{Kind(kind).label} serial"


class ChangeForm(forms.Form):
    """Fields every change has. ``position`` is where the change happens."""

    reason = forms.CharField(max_length=200, help_text="For example: routine swap, cell fault, upgrade.")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    at = StorableDateTimeField(
        label="When (site local time)",
        required=False,
        help_text="Leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    # Service error keys -> the field they are shown beside (None: at the top of the form).
    SERVICE_FIELDS = {"reason": "reason", "note": "note", "at": "at", "to_location": "to_location"}
    field_order = ["serial", "removed_status", "to_location", "reason", "note", "at", "confirm_incomplete"]

    def __init__(self, *args, position, user, **kwargs):
        super().__init__(*args, label_suffix="", **kwargs)
        self.position = position
        self.user = user

    @property
    def top_errors(self):
        """The errors shown above the form: those of no field, and those of the hidden fields."""
        hidden = [message for field in self.hidden_fields() for message in field.errors]
        return ErrorList([*self.non_field_errors(), *hidden])

    # The components the service's checks need; without them (a wrong serial) the review shows only the
    # form's own errors.
    CHECK_NEEDS = ()

    def review(self):
        """Validate, then run the service's checks without writing, with whatever is valid so far: True when
        the change may be confirmed, else False with every problem beside its field."""
        valid = self.is_valid()
        values = {name: self.cleaned_data.get(name) for name in [*self.fields, "component"]}
        if all(values[name] is not None for name in self.CHECK_NEEDS):
            values |= {name: values[name] or "" for name in ("reason", "removed_status") if name in values}
            self._run(self.check_service, **values)
        return valid and not self.errors

    def apply(self, *, user):
        """Record the change; the installation it leaves, or None with the errors added to the form."""
        return self._run(self.call_service, user=user, **self.cleaned_data)

    def _run(self, service, **arguments):
        try:
            return service(**arguments)
        except ValidationError as error:
            for key, messages in error.message_dict.items():
                field = self.SERVICE_FIELDS.get(key)
                if field is None or not self.has_error(field):  # else the form said it already
                    self.add_error(field, messages)
            return None


class NewComponentMixin(forms.Form):
    serial = forms.CharField(
        max_length=64,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "data-scan": "",  # static/js/scan.js adds a Scan button
            }
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["serial"].label = serial_label(kind=self.position.kind)
        self.fields["serial"].help_text = "Type it, or scan its label."

    def clean_serial(self):
        serial = serial_from_scan(self.cleaned_data["serial"].strip())
        component = component_by_serial(kind=self.position.kind, serial=serial)
        if component is None:
            kind = Kind(self.position.kind)
            raise ValidationError(
                f"There is no {kind.label.lower()} with {serial_label(kind=kind)} {serial!r}. "
                "Check the id on the label."
            )
        self.cleaned_data["component"] = component
        return serial


class OldComponentMixin(forms.Form):
    """The component the engineer saw at the position, carried in a hidden field, its status once out and
    the stock location it goes into: one the user may move stock to, their van by default (a user without a
    van may leave it unplaced)."""

    old_component = forms.ModelChoiceField(queryset=Component.objects.all(), widget=forms.HiddenInput)
    removed_status = forms.ChoiceField(choices=REMOVED_STATUS_CHOICES)
    to_location = forms.ModelChoiceField(
        queryset=StockLocation.objects.none(),
        error_messages={
            "invalid_choice": "Choose one of the places offered: your own van or a site cupboard."
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        out = f"the {services.noun(kind=self.position.kind)} taken out"
        self.fields["removed_status"].label = f"Status of {out}"
        self.fields["removed_status"].error_messages["required"] = (
            f"Choose the status of {out}: in stock, faulty, in repair or retired."
        )
        van = stock_selectors.van_of(user=self.user)
        location = self.fields["to_location"]
        location.label = f"Put {out} into"
        location.queryset = stock_selectors.locations_for(user=self.user)
        location.initial = van
        location.required = van is not None
        location.empty_label = None if van else "Nowhere yet"

    def apply(self, *, user):
        with stock_services.removals_into(location=self.cleaned_data.get("to_location")):
            return super().apply(user=user)

    @property
    def removed_status_label(self):
        return Status(self.cleaned_data["removed_status"]).label.lower()


class DiscrepancyMixin(forms.Form):
    """The open discrepancy the change records, when it was opened from one: resolved with the change.

    Carried in a hidden field, so checked against what the form records: the discrepancy's case, installed in
    the dock it was seen in.
    """

    discrepancy = forms.ModelChoiceField(
        queryset=Discrepancy.objects.filter(status=Discrepancy.Status.OPEN).select_related(
            "case", "observed_site"
        ),
        required=False,
        widget=forms.HiddenInput,
        error_messages={
            "invalid_choice": "The discrepancy this change was opened from is resolved already, or unknown."
        },
    )

    def clean(self):
        cleaned = super().clean()
        discrepancy, component = cleaned.get("discrepancy"), cleaned.get("component")
        if discrepancy is not None and component is not None:
            telemetry_services.discrepancy_check_record(
                discrepancy=discrepancy, case=component, position=self.position
            )
        return cleaned


class CheckedPartsMixin(forms.Form):
    """What review shows about the component going in: what a case lacks (the service refuses it unless the
    box is ticked, and records what it lacked); an acquisition board configured with another case's Case id
    is flagged."""

    confirm_incomplete = forms.BooleanField(
        label="Install incomplete case",
        required=False,
        help_text="Only for a case going in without all its cell blocks, its acquisition board or its FET "
        "board; what it lacks is recorded with the installation.",
    )

    def clean(self):
        cleaned = super().clean()
        component = cleaned.get("component")
        self.incomplete, self.warnings = "", []
        if component is None:
            return cleaned
        at = cleaned.get("at") or timezone.now()
        self.incomplete = services.incomplete_cases(placements=[(component, self.position)], at=at).get(
            component.pk, ""
        )
        case = self.position.parent
        if self.position.kind == Kind.ACQ_BOARD and component.configured_id not in ("", case.serial):
            self.warnings.append(
                f"This board is configured with Case id {component.configured_id}, not {case.serial}: its "
                f"readings will be reported as case {component.configured_id} until it is reconfigured."
            )
        return cleaned


class InstallForm(NewComponentMixin, CheckedPartsMixin, DiscrepancyMixin, ChangeForm):
    SERVICE_FIELDS = {
        **ChangeForm.SERVICE_FIELDS,
        "component": "serial",
        "position": None,
        "confirm_incomplete": "confirm_incomplete",
    }
    CHECK_NEEDS = ("component",)
    verb = "Install"

    def check_service(self, *, component, reason, at, confirm_incomplete, **unused):
        services.component_install_check(
            component=component,
            position=self.position,
            reason=reason,
            at=at,
            confirm_incomplete=confirm_incomplete,
        )
        return True

    def call_service(self, *, user, component, discrepancy, reason, note, at, confirm_incomplete, **unused):
        install = {
            "component": component,
            "position": self.position,
            "user": user,
            "reason": reason,
            "note": note,
            "at": at,
            "confirm_incomplete": confirm_incomplete,
        }
        if discrepancy is None:
            return services.component_install(**install)
        return telemetry_services.discrepancy_resolve_by_install(discrepancy=discrepancy, **install)


class ReplaceForm(NewComponentMixin, OldComponentMixin, CheckedPartsMixin, DiscrepancyMixin, ChangeForm):
    SERVICE_FIELDS = {
        **ChangeForm.SERVICE_FIELDS,
        "confirm_incomplete": "confirm_incomplete",
        "component": "serial",
        "new_component": "serial",
        "old_component": None,
        "old_component_status": "removed_status",
        "new_status": "removed_status",
        "position": None,
    }
    CHECK_NEEDS = ("component", "old_component")
    verb = "Swap"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kind = Kind(self.position.kind)
        noun = services.noun(kind=kind)
        serial = self.fields["serial"]
        serial.label = f"New {noun}'s {'Case id' if kind == Kind.CASE else 'serial'}"
        serial.help_text = f"The {noun} going in. Type it, or scan its label."

    def check_service(
        self, *, component, old_component, removed_status, reason, at, confirm_incomplete, **unused
    ):
        services.component_swap_check(
            position=self.position,
            old_component=old_component,
            new_component=component,
            reason=reason,
            old_component_status=removed_status,
            at=at,
            confirm_incomplete=confirm_incomplete,
        )
        return True

    def call_service(
        self,
        *,
        user,
        component,
        old_component,
        removed_status,
        discrepancy,
        reason,
        note,
        at,
        confirm_incomplete,
        **unused,
    ):
        swap = {
            "position": self.position,
            "old_component": old_component,
            "new_component": component,
            "user": user,
            "reason": reason,
            "old_component_status": removed_status,
            "note": note,
            "at": at,
            "confirm_incomplete": confirm_incomplete,
        }
        if discrepancy is None:
            return services.component_swap(**swap)
        return telemetry_services.discrepancy_resolve_by_swap(discrepancy=discrepancy, **swap)


class RemoveForm(OldComponentMixin, ChangeForm):
    SERVICE_FIELDS = {**ChangeForm.SERVICE_FIELDS, "component": None, "new_status": "removed_status"}
    CHECK_NEEDS = ("old_component",)
    verb = "Remove"

    def clean(self):
        cleaned = super().clean()
        old = cleaned.get("old_component")
        current = component_in_position_at(position=self.position)
        if old is not None and current != old:
            now = f"now holds {current}" if current else "is now empty"
            raise ValidationError(
                f"This place {now}, not {old}; someone changed it meanwhile. Reload and check."
            )
        return cleaned

    def check_service(self, *, old_component, removed_status, reason, at, **unused):
        services.component_remove_check(
            component=old_component, reason=reason, new_status=removed_status, at=at
        )
        return True

    def call_service(self, *, user, old_component, removed_status, reason, note, at, **unused):
        return services.component_remove(
            component=old_component, user=user, reason=reason, new_status=removed_status, note=note, at=at
        )


CHANGE_FORMS = {"install": InstallForm, "replace": ReplaceForm, "remove": RemoveForm}


class RangeForm(forms.Form):
    """A chart or export range: a preset ending now, or a custom start and end (in the active time zone)."""

    PRESETS = {
        "1h": timedelta(hours=1),
        "24h": timedelta(days=1),
        "7d": timedelta(days=7),
        "30d": timedelta(days=30),
    }
    LIFE = "life"
    MAX_SPAN = timedelta(days=400)

    range = forms.ChoiceField(
        choices=[(key, key) for key in PRESETS] + [("custom", "custom")], initial="24h", required=False
    )
    start = StorableDateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end = StorableDateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def __init__(self, *args, life_start=None, **kwargs):
        """``life_start``: offer the range "life" (from then until now), for a case."""
        super().__init__(*args, **kwargs)
        self.life_start = life_start
        if life_start is not None:
            self.fields["range"].choices = [(self.LIFE, "whole life"), *self.fields["range"].choices]

    def clean(self):
        cleaned = super().clean()
        now = timezone.now()
        preset = cleaned.get("range") or "24h"
        if preset == self.LIFE:
            cleaned["start"], cleaned["end"] = self.life_start, now
        elif preset != "custom":
            cleaned["start"], cleaned["end"] = now - self.PRESETS[preset], now
        else:
            start, end = cleaned.get("start"), cleaned.get("end")
            if start is None and "start" not in self.errors:
                self.add_error("start", "Give the start of the range.")
            if end is None and "end" not in self.errors:
                self.add_error("end", "Give the end of the range.")
            if start and end and end <= start:
                self.add_error("end", "The end must be after the start.")
            elif start and end and end - start > self.MAX_SPAN:
                self.add_error("end", f"A range can be at most {self.MAX_SPAN.days} days.")
        return cleaned

    def error_text(self):
        return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in self.errors.items())
