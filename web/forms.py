"""Field engineers' forms: install into, replace at, or remove from one position (a dock, a case's part).

The forms only turn input into objects; the rules live in ``assets.services``. Each form's ``apply`` calls the
service, and ``SERVICE_FIELDS`` says which form field a service error belongs beside.
"""

from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from assets import services
from assets.models import Component, Kind, Status
from assets.selectors import component_by_serial, component_in_position_at

REMOVED_STATUS_CHOICES = [(status.value, status.label) for status in services.RESTING_STATUSES]


def serial_label(kind):
    return "Case id" if kind == Kind.CASE else f"{Kind(kind).label} serial"


class ChangeForm(forms.Form):
    """Fields every change has. ``position`` is where the change happens."""

    reason = forms.CharField(max_length=200, help_text="For example: routine swap, cell fault, upgrade.")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    at = forms.DateTimeField(
        label="When (site local time)",
        required=False,
        help_text="Leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    # Service error keys -> the field they are shown beside (None: at the top of the form).
    SERVICE_FIELDS = {"reason": "reason", "note": "note", "at": "at"}
    field_order = ["serial", "removed_status", "reason", "note", "at"]

    def __init__(self, *args, position, **kwargs):
        super().__init__(*args, label_suffix="", **kwargs)
        self.position = position

    def apply(self, *, user):
        try:
            return self.call_service(user=user, **self.cleaned_data)
        except ValidationError as error:
            for key, messages in error.message_dict.items():
                self.add_error(self.SERVICE_FIELDS.get(key), messages)
            return None


class NewComponentMixin(forms.Form):
    serial = forms.CharField(
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["serial"].label = serial_label(self.position.kind)
        self.fields["serial"].help_text = "Type it, or scan its barcode into this box."

    def clean_serial(self):
        serial = self.cleaned_data["serial"].strip()
        component = component_by_serial(self.position.kind, serial)
        if component is None:
            kind = Kind(self.position.kind)
            raise ValidationError(
                f"There is no {kind.label.lower()} with {serial_label(kind)} {serial!r}. "
                "Check the id on the label."
            )
        self.cleaned_data["component"] = component
        return serial


class OldComponentMixin(forms.Form):
    """The component the engineer saw at the position, carried in a hidden field."""

    old_component = forms.ModelChoiceField(queryset=Component.objects.all(), widget=forms.HiddenInput)
    removed_status = forms.ChoiceField(
        label="New status of the removed one", choices=REMOVED_STATUS_CHOICES, initial=Status.IN_STOCK
    )

    @property
    def removed_status_label(self):
        return Status(self.cleaned_data["removed_status"]).label.lower()


class InstallForm(NewComponentMixin, ChangeForm):
    SERVICE_FIELDS = {**ChangeForm.SERVICE_FIELDS, "component": "serial", "position": None}
    verb = "Install"

    def call_service(self, *, user, component, reason, note, at, **unused):
        return services.component_install(
            component=component, position=self.position, user=user, reason=reason, note=note, at=at
        )


class ReplaceForm(NewComponentMixin, OldComponentMixin, ChangeForm):
    SERVICE_FIELDS = {
        **ChangeForm.SERVICE_FIELDS,
        "component": "serial",
        "new_component": "serial",
        "old_component": None,
        "old_component_status": "removed_status",
        "new_status": "removed_status",
        "position": None,
    }
    verb = "Replace"

    def call_service(self, *, user, component, old_component, removed_status, reason, note, at, **unused):
        return services.component_swap(
            position=self.position,
            old_component=old_component,
            new_component=component,
            user=user,
            reason=reason,
            old_component_status=removed_status,
            note=note,
            at=at,
        )


class RemoveForm(OldComponentMixin, ChangeForm):
    SERVICE_FIELDS = {**ChangeForm.SERVICE_FIELDS, "component": None, "new_status": "removed_status"}
    verb = "Remove"

    def clean(self):
        cleaned = super().clean()
        old = cleaned.get("old_component")
        current = component_in_position_at(self.position)
        if old is not None and current != old:
            now = f"now holds {current}" if current else "is now empty"
            raise ValidationError(
                f"This place {now}, not {old}; someone changed it meanwhile. Reload and check."
            )
        return cleaned

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
    start = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

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
