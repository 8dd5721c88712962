"""Forms of the procurement admin. They collect input; stock.services decides."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from assets.forms import SERIALS_HELP, ReceiveShipmentForm, date_input, unknown_serial
from assets.models import Component, ControllerType, Kind
from assets.services import parse_serials
from stock import selectors, services
from stock.models import PurchaseOrder, PurchaseOrderLine, Repair, Reservation, StockLocation, Supplier


class PurchaseOrderForm(forms.ModelForm):
    change_reason = forms.CharField(
        max_length=100, required=False, help_text="Why you are changing this; kept in the history."
    )

    class Meta:
        model = PurchaseOrder
        fields = ["supplier", "reference", "ordered_on", "expected_on", "notes"]
        widgets = {"ordered_on": date_input(), "expected_on": date_input()}


class SupplierForm(forms.ModelForm):
    class Meta:
        model = Supplier
        fields = ["name", "contact", "notes"]


class LineForm(forms.ModelForm):
    class Meta:
        model = PurchaseOrderLine
        fields = ["kind", "model_number", "quantity", "unit_cost", "currency", "warranty_months"]


class AmendLineForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, help_text="The new quantity ordered on this line.")
    reason = forms.CharField(max_length=90, help_text="E.g. the supplier's confirmation of an extra unit.")


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=90)


class PlaceForm(forms.Form):
    """Nothing to fill in: the button confirms."""


class ReceivingLocationMixin(forms.Form):
    """Where a delivery goes: a warehouse, shelf or van, the default receiving location first."""

    location = forms.ModelChoiceField(
        queryset=selectors.receiving_locations(),
        label="Put into",
        help_text="The warehouse, shelf or van the delivery goes to.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].initial = selectors.default_receiving_location()


class ShipmentForm(ReceivingLocationMixin, ReceiveShipmentForm):
    """ "Receive shipment" in the components' admin, into a stock location."""


class ReceiptForm(ReceivingLocationMixin, forms.Form):
    """The serials of one delivery on a line; the busbar and controller fields only for those kinds."""

    received_on = forms.DateField(
        required=False, widget=date_input(), help_text="Default: today."
    )
    serials_text = forms.CharField(
        label="Serials",
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 60, "autofocus": True}),
        help_text=SERIALS_HELP,
    )
    serials_file = forms.FileField(
        label="Or a CSV file", required=False, help_text="Used instead of the box above when given."
    )
    dock_count = forms.IntegerField(required=False, min_value=1, help_text="Docks on each busbar: 4-12.")
    controller_type = forms.ChoiceField(choices=[("", "---------"), *ControllerType.choices], required=False)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    field_order = ["received_on", "serials_text", "serials_file", "dock_count", "controller_type", "location"]

    def __init__(self, *args, kind, **kwargs):
        super().__init__(*args, **kwargs)
        if kind != Kind.BUSBAR:
            del self.fields["dock_count"]
        if kind != Kind.CONTROLLER:
            del self.fields["controller_type"]

    def clean(self):
        upload = self.cleaned_data.get("serials_file")
        if upload is not None:
            try:
                self.cleaned_data["serials_text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ValidationError(
                    {"serials_file": "The file is not UTF-8 text: save it as CSV."}
                ) from None
        return self.cleaned_data

    def receive_arguments(self):
        """Keyword arguments for stock.services.purchase_order_receive."""
        return {name: value for name, value in self.cleaned_data.items() if name != "serials_file"}


class StockLocationForm(forms.ModelForm):
    class Meta:
        model = StockLocation
        fields = ["kind", "name", "warehouse", "site", "engineer"]


class MoveForm(forms.Form):
    """Components of one kind, by serial, to one location."""

    kind = forms.ChoiceField(choices=Kind.choices, initial=Kind.CASE)
    serials = forms.CharField(
        label="Serials", widget=forms.Textarea(attrs={"rows": 4}), help_text="One per line, typed or scanned."
    )
    to_location = forms.ModelChoiceField(queryset=StockLocation.objects.none(), label="Move to")
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_location"].queryset = selectors.locations_for(user=user)

    def clean(self):
        cleaned = super().clean()
        kind, text = cleaned.get("kind"), cleaned.get("serials")
        if kind and text:
            serials, errors = parse_serials(text=text)
            components = {c.serial: c for c in Component.objects.filter(kind=kind, serial__in=serials)}
            errors += [unknown_serial(kind, serial) for serial in serials if serial not in components]
            if errors:
                raise ValidationError({"serials": errors})
            cleaned["components"] = [components[serial] for serial in serials]
        return cleaned


class FaultyComponentField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj} ({services.warranty_text(component=obj, on=timezone.localdate()).lower()})"


class RepairSendForm(forms.ModelForm):
    component = FaultyComponentField(
        queryset=Component.objects.filter(status="faulty"),
        help_text="Faulty components only, with their warranty as of today.",
    )

    class Meta:
        model = Repair
        fields = ["component", "supplier", "rma_number", "sent_on", "note"]
        widgets = {"sent_on": date_input()}
        help_texts = {"sent_on": "Default: today."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "sent_on" in self.fields:  # the change page shows it read-only
            self.fields["sent_on"].required = False


class RepairReturnForm(forms.Form):
    outcome = forms.ChoiceField(choices=Repair.Outcome.choices, widget=forms.RadioSelect)
    returned_on = forms.DateField(
        required=False, widget=date_input(), help_text="Default: today."
    )
    location = forms.ModelChoiceField(
        queryset=StockLocation.objects.select_related("warehouse", "site"),
        required=False,
        label="Put into",
        help_text="Where the repaired component or its replacement goes.",
    )
    replacement_serial = forms.CharField(
        max_length=64, required=False, help_text="Replaced only: the new serial the supplier sent."
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].initial = selectors.default_receiving_location()


class ReserveForm(forms.ModelForm):
    """The reason for reserving the components selected in the components' admin (its "reserve" action)."""

    class Meta:
        model = Reservation
        fields = ["reason"]


class ReservationForm(forms.ModelForm):
    class Meta:
        model = Reservation
        fields = ["component", "reason"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("component") is not None:
            services.component_reserve_check(component=cleaned["component"], reason=cleaned.get("reason", ""))
        return cleaned
