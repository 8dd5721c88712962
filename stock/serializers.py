"""The stock API's inputs and answers. Inputs resolve ids; stock.services checks the rules."""

from rest_framework import serializers

from assets.serializers import ComponentSerializer, ReceiveInputSerializer
from stock import selectors
from stock.models import StockLocation


class ShipmentInputSerializer(ReceiveInputSerializer):
    """A shipment to receive (assets' receive fields) and the stock location it goes into."""

    location = serializers.PrimaryKeyRelatedField(
        queryset=selectors.receiving_locations(),
        help_text="Id of the warehouse, shelf or van the shipment goes into (not a site's cupboard)",
        error_messages={"does_not_exist": "There is no warehouse, shelf or van with id {pk_value}."},
    )


class StockLocationSerializer(serializers.ModelSerializer):
    label = serializers.CharField(source="__str__", read_only=True, help_text="e.g. 'Bangkok WH / shelf B3'")

    class Meta:
        model = StockLocation
        fields = ["id", "kind", "name", "label"]


class ReceivedShipmentSerializer(serializers.Serializer):
    """What was received, and where it was put."""

    location = StockLocationSerializer()
    components = ComponentSerializer(many=True)
