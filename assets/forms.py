"""Forms for the asset admin, reusable by the web pages. They collect input; the services decide."""

import re

from django import forms
from django.core.exceptions import ValidationError

from assets import selectors, services
from assets.constants import CELL_BLOCKS_PER_CASE, FETS_PER_BOARD
from assets.models import PLACEMENT, Component, ControllerType, Kind, Site

RESTING_STATUS_CHOICES = [(status.value, status.label) for status in services.RESTING_STATUSES]
# The separators services.parse_serials accepts between the serial and the columns after it.
CSV_SEPARATORS = re.compile(r"[,;\t]")


def unknown_serial(kind, serial):
    return f"There is no {services.noun(kind=kind)} with serial {serial}."


def add_service_errors(form, error):
    """Show a service's ValidationError on the fields it names, the rest above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


SERIALS_HELP = (
    "One serial per line, pasted or scanned, or CSV. An optional second column is the configured id "
    "(Case id on an acquisition board, PMS id on a controller, device id of an MPPT or inverter)."
)


def date_input():
    """The browser's date picker, shown in the user's own date format: no format hint beside it, which would
    contradict the picker. The value it sends is YYYY-MM-DD."""
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def configured_ids_from(text, serials):
    """{serial: configured id} from the optional second CSV column of lines whose serial is in ``serials``."""
    wanted = set(serials)
    configured = {}
    for line in text.splitlines():
        columns = [column.strip().strip('"') for column in CSV_SEPARATORS.split(line)]
        if len(columns) > 1 and columns[0] in wanted and columns[1]:
            configured[columns[0]] = columns[1]
    return configured


class ComponentForm(forms.ModelForm):
    """Descriptive and procurement fields; status, kind and dock count change through their own actions."""

    change_reason = forms.CharField(
        max_length=100, required=False, help_text="Why you are changing this; kept in the history."
    )

    class Meta:
        model = Component
        fields = [field.name for field in Component._meta.fields if field.name in services.EDITABLE_FIELDS]

    def changed_fields(self):
        editable = services.EDITABLE_FIELDS
        return {name: self.cleaned_data[name] for name in self.changed_data if name in editable}


class ReceiveShipmentForm(forms.Form):
    """A shipment of one kind, chosen first: the form shows that kind's fields only."""

    kind = forms.ChoiceField(choices=Kind.choices, widget=forms.HiddenInput)
    model_number = forms.CharField(label="Model / part number", max_length=64, required=False)
    manufacturer = forms.CharField(max_length=100, required=False)
    supplier = forms.CharField(max_length=100, required=False)
    purchase_order = forms.CharField(label="Purchase order", max_length=64, required=False)
    received_on = forms.DateField(
        required=False, widget=date_input(), help_text="Default: today."
    )
    cost = forms.DecimalField(max_digits=12, decimal_places=2, required=False, help_text="Per component.")
    warranty_end = forms.DateField(required=False, widget=date_input())
    batch = forms.CharField(label="Batch / lot", max_length=64, required=False)
    dock_count = forms.IntegerField(required=False, help_text="Docks on each busbar: 4-12.")
    controller_type = forms.ChoiceField(choices=[("", "---------"), *ControllerType.choices], required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    serials = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 60}),
        help_text=SERIALS_HELP,
    )

    def __init__(self, *args, kind, **kwargs):
        super().__init__(*args, initial={"kind": kind}, **kwargs)
        if kind != Kind.BUSBAR:
            del self.fields["dock_count"]
        if kind != Kind.CONTROLLER:
            del self.fields["controller_type"]

    def clean_serials(self):
        text = self.cleaned_data["serials"]
        serials, errors = services.parse_serials(text=text)
        if errors:
            raise ValidationError(errors)
        if not serials:
            raise ValidationError("No serials given.")
        return text

    def receive_arguments(self):
        """Keyword arguments for services.components_receive."""
        text = self.cleaned_data["serials"]
        serials, _ = services.parse_serials(text=text)
        return {
            **{name: value for name, value in self.cleaned_data.items() if name != "serials"},
            "serials": serials,
            "configured_ids": configured_ids_from(text, serials),
        }


def _components_from_serials(text, kind, *, expected, field_label):
    """The stock components named one per line in ``text``, in order; every problem reported by line."""
    serials, errors = services.parse_serials(text=text)
    components = []
    for number, serial in enumerate(serials, start=1):
        component = selectors.component_by_serial(kind=kind, serial=serial)
        if component is None:
            errors.append(f"Position {number}: {unknown_serial(kind, serial)}")
        components.append(component)
    if not errors and len(serials) != expected:
        errors.append(f"{field_label} takes {expected}, not {len(serials)}.")
    if errors:
        raise ValidationError(errors)
    return components


class AssembleCaseForm(forms.Form):
    case = forms.CharField(label="Case id", max_length=64)
    cell_blocks = forms.CharField(
        widget=forms.Textarea(attrs={"rows": CELL_BLOCKS_PER_CASE, "cols": 30}),
        help_text=f"The {CELL_BLOCKS_PER_CASE} cell block serials, one per line, in position order "
        f"1-{CELL_BLOCKS_PER_CASE}.",
    )
    acq_board = forms.CharField(label="Acquisition board", max_length=64)
    fet_board = forms.CharField(label="FET board", max_length=64)
    fets = forms.CharField(
        label="FETs",
        widget=forms.Textarea(attrs={"rows": FETS_PER_BOARD, "cols": 30}),
        required=False,
        help_text=f"Optional: the FET board's {FETS_PER_BOARD} FET serials, positions 1-{FETS_PER_BOARD}.",
    )

    def _single(self, field, kind):
        serial = self.cleaned_data[field].strip()
        component = selectors.component_by_serial(kind=kind, serial=serial)
        if component is None:
            raise ValidationError(unknown_serial(kind, serial))
        return component

    def clean_case(self):
        return self._single("case", Kind.CASE)

    def clean_acq_board(self):
        return self._single("acq_board", Kind.ACQ_BOARD)

    def clean_fet_board(self):
        return self._single("fet_board", Kind.FET_BOARD)

    def clean_cell_blocks(self):
        return _components_from_serials(
            self.cleaned_data["cell_blocks"],
            Kind.CELL_BLOCK,
            expected=CELL_BLOCKS_PER_CASE,
            field_label="A case",
        )

    def clean_fets(self):
        if not self.cleaned_data["fets"].strip():
            return []
        return _components_from_serials(
            self.cleaned_data["fets"], Kind.FET, expected=FETS_PER_BOARD, field_label="A FET board"
        )


class StatusChangeForm(forms.Form):
    status = forms.ChoiceField(choices=RESTING_STATUS_CHOICES)
    reason = forms.CharField(max_length=200)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class SiteCreateForm(forms.ModelForm):
    """A new site and its empty positions, created by services.site_create."""

    cabinets = forms.IntegerField(min_value=0, max_value=PLACEMENT[Kind.CABINET][1], initial=1)
    mppts = forms.IntegerField(label="MPPTs", min_value=0, max_value=PLACEMENT[Kind.MPPT][1], initial=0)
    inverters = forms.IntegerField(min_value=0, max_value=PLACEMENT[Kind.INVERTER][1], initial=0)

    class Meta:
        model = Site
        fields = ["name", "pms_id", "location", "time_zone", "notes"]
