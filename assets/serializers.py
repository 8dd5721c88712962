"""API representations of the asset model, and the inputs of the actions that call the services."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assets import selectors, services
from assets.constants import MAX_PMS_DOCK
from assets.forms import unknown_serial
from assets.models import (
    Component,
    ComponentEvent,
    ControllerType,
    Installation,
    Kind,
    Position,
    Site,
)


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = "__all__"


class ComponentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Component
        fields = "__all__"


class LocationSerializer(serializers.Serializer):
    """Where a component is: ``selectors.Location`` as JSON."""

    site = serializers.IntegerField(allow_null=True, help_text="Site id; null when the parent is in stock")
    pms_id = serializers.CharField(allow_null=True)
    place = serializers.CharField(help_text="e.g. 'PMS-01-001 cabinet 1 dock 3'")
    position = serializers.IntegerField(help_text="Id of the position it is in")
    pms_dock = serializers.IntegerField(allow_null=True, help_text="PMS-wide dock number of a case")

    def to_representation(self, location):
        leaf = location.path[-1]
        return {
            "site": location.site.pk if location.site else None,
            "pms_id": location.site.pms_id if location.site else None,
            "place": str(location),
            "position": leaf.pk,
            "pms_dock": location.pms_dock,
        }


class LocatedListSerializer(serializers.ListSerializer):
    """Looks up the current location of the whole page at once."""

    def to_representation(self, data):
        components = list(data.all() if hasattr(data, "all") else data)
        self.child.locations = selectors.current_locations(components=components)
        return super().to_representation(components)


class LocatedComponentSerializer(ComponentSerializer):
    """A component with where it is now (null when it is not installed)."""

    location = serializers.SerializerMethodField()

    class Meta(ComponentSerializer.Meta):
        list_serializer_class = LocatedListSerializer

    @extend_schema_field(LocationSerializer(allow_null=True))
    def get_location(self, component):
        locations = getattr(self, "locations", None)
        if locations is None:
            locations = selectors.current_locations(components=[component])
        location = locations.get(component.pk)
        return LocationSerializer(location).data if location else None


class PositionSerializer(serializers.ModelSerializer):
    label = serializers.CharField(read_only=True, help_text="e.g. 'dock 7', 'cell block 3'")

    class Meta:
        model = Position
        fields = ["id", "kind", "number", "label", "site", "parent", "parent_kind"]


class InstallationSerializer(serializers.ModelSerializer):
    component_serial = serializers.CharField(source="component.serial", read_only=True)
    position_label = serializers.CharField(source="position.label", read_only=True)

    class Meta:
        model = Installation
        fields = "__all__"


class ComponentEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ComponentEvent
        fields = "__all__"


# --- Inputs of the actions: they resolve ids and serials, the services check the rules ----------------------

RESTING_STATUS_CHOICES = [(status.value, status.label) for status in services.RESTING_STATUSES]


def _component_field(help_text):
    return serializers.PrimaryKeyRelatedField(
        queryset=Component.objects.all(),
        required=False,
        help_text=help_text,
        error_messages={"does_not_exist": "There is no component with id {pk_value}."},
    )


def _position_field(required=True):
    return serializers.PrimaryKeyRelatedField(
        queryset=Position.objects.select_related("parent", "site"),
        required=required,
        help_text="Position id",
        error_messages={"does_not_exist": "There is no position with id {pk_value}."},
    )


def resolve_component(attrs, *, id_field, serial_field, kind):
    """Replace ``id_field`` / ``serial_field`` in ``attrs`` by the component they name."""
    component = attrs.get(id_field)
    serial = attrs.pop(serial_field, "")
    if component is None and not serial:
        raise serializers.ValidationError({id_field: f"Give {id_field} (an id) or {serial_field}."})
    if component is None:
        if not kind:
            raise serializers.ValidationError({"kind": "Give the kind of the component with its serial."})
        component = selectors.component_by_serial(kind=kind, serial=serial)
        if component is None:
            raise serializers.ValidationError({serial_field: unknown_serial(kind, serial)})
    attrs[id_field] = component
    return attrs


def _confirm_incomplete_field():
    return serializers.BooleanField(
        default=False,
        help_text="Install incomplete case: true to install a case that lacks cell blocks, its acquisition "
        "board or its FET board (what it lacks is recorded); without it such a case is refused, naming what "
        "it lacks",
    )


class InstallInputSerializer(serializers.Serializer):
    component = _component_field("Component id; or give serial (and kind)")
    serial = serializers.CharField(required=False, help_text="Serial of the component to install")
    kind = serializers.ChoiceField(
        choices=Kind.choices, required=False, help_text="Kind of the serial; default: the position's kind"
    )
    position = _position_field(required=False)
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Component.objects.all(),
        required=False,
        help_text="Instead of position: the component it goes into (e.g. a busbar) ...",
        error_messages={"does_not_exist": "There is no component with id {pk_value}."},
    )
    number = serializers.IntegerField(required=False, min_value=1, help_text="... and the position number")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")
    at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    confirm_incomplete = _confirm_incomplete_field()

    def validate(self, attrs):
        parent, number = attrs.pop("parent", None), attrs.pop("number", None)
        position = attrs.get("position")
        if position is None and (parent is None or number is None):
            raise serializers.ValidationError({"position": "Give position (an id), or parent and number."})
        kind = attrs.pop("kind", None) or (position.kind if position else None)
        resolve_component(attrs, id_field="component", serial_field="serial", kind=kind)
        if position is None:
            attrs["position"] = services.child_position_get(
                parent=parent, kind=attrs["component"].kind, number=number
            )
        return attrs


class RemoveInputSerializer(serializers.Serializer):
    component = _component_field("Component id; or give serial and kind")
    serial = serializers.CharField(required=False)
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    reason = serializers.CharField(max_length=200)
    new_status = serializers.ChoiceField(choices=RESTING_STATUS_CHOICES)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs):
        kind = attrs.pop("kind", None)
        return resolve_component(attrs, id_field="component", serial_field="serial", kind=kind)


class SwapInputSerializer(serializers.Serializer):
    position = _position_field()
    old_component = _component_field("Id of the component the engineer saw there")
    old_serial = serializers.CharField(required=False, help_text="Or its serial (of the position's kind)")
    new_component = _component_field("Id of the component going in")
    new_serial = serializers.CharField(required=False, help_text="Or its serial (of the position's kind)")
    reason = serializers.CharField(max_length=200)
    old_component_status = serializers.ChoiceField(choices=RESTING_STATUS_CHOICES)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    confirm_incomplete = _confirm_incomplete_field()

    def validate(self, attrs):
        kind = attrs["position"].kind
        resolve_component(attrs, id_field="old_component", serial_field="old_serial", kind=kind)
        return resolve_component(attrs, id_field="new_component", serial_field="new_serial", kind=kind)


class SetStatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=RESTING_STATUS_CHOICES)
    reason = serializers.CharField(max_length=200)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ReceiveInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices)
    serials = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=False)
    configured_ids = serializers.DictField(
        child=serializers.CharField(max_length=64), required=False, help_text="serial -> configured id"
    )
    model_number = serializers.CharField(required=False, allow_blank=True, max_length=64)
    manufacturer = serializers.CharField(required=False, allow_blank=True, max_length=100)
    supplier = serializers.CharField(required=False, allow_blank=True, max_length=100)
    purchase_order = serializers.CharField(required=False, allow_blank=True, max_length=64)
    received_on = serializers.DateField(required=False, allow_null=True)
    cost = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, allow_null=True)
    warranty_end = serializers.DateField(required=False, allow_null=True)
    batch = serializers.CharField(required=False, allow_blank=True, max_length=64)
    notes = serializers.CharField(required=False, allow_blank=True)
    dock_count = serializers.IntegerField(required=False, allow_null=True, help_text="Busbars only")
    controller_type = serializers.ChoiceField(
        choices=ControllerType.choices, required=False, allow_blank=True, help_text="Controllers only"
    )


# --- As of a time: what was where ---------------------------------------------------------------------------


class AsOfQuerySerializer(serializers.Serializer):
    at = serializers.DateTimeField(required=False, help_text="ISO 8601 time; default: now")


class DockAsOfQuerySerializer(AsOfQuerySerializer):
    pms_id = serializers.CharField(help_text="PMS id of the site, as its controllers store it")
    dock = serializers.IntegerField(min_value=1, max_value=MAX_PMS_DOCK, help_text="PMS-wide dock number")


class SerialAsOfQuerySerializer(AsOfQuerySerializer):
    serial = serializers.CharField(help_text="Case id, or the acquisition board's hardware id")


class BriefComponentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    serial = serializers.CharField()


class AsOfSerializer(serializers.Serializer):
    """What the installation records say about one place or one component at ``at``."""

    at = serializers.DateTimeField()
    case = BriefComponentSerializer(allow_null=True, help_text="The case; null: none (an empty dock ...)")
    installation = serializers.IntegerField(
        allow_null=True,
        help_text="Id of the installation that answers: the case's, or the board's in the case",
    )
    location = LocationSerializer(allow_null=True, help_text="Where the case was; null: on no site")
