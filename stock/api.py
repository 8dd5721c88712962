"""REST API over stock: every write calls a service of stock.services."""

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from assets import permissions
from stock import services
from stock.serializers import ReceivedShipmentSerializer, ShipmentInputSerializer


# Actions take ``format``: the router also routes their ``.json`` form (e.g. receive.json) to them.
class StockViewSet(viewsets.GenericViewSet):
    """Writes to stock, as actions: there is no list of its own."""

    @extend_schema(request=ShipmentInputSerializer, responses={201: ReceivedShipmentSerializer})
    @action(
        detail=False,
        methods=["post"],
        permission_classes=[permissions.requires(permissions.RECEIVE_COMPONENTS)],
    )
    def receive(self, request, format=None):
        """Receive a shipment into a stock location: one component in stock per serial, each put into
        ``location`` (a stock move on its timeline); all or none."""
        serializer = ShipmentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        components = services.components_receive_into(**serializer.validated_data, user=request.user)
        answer = {"location": serializer.validated_data["location"], "components": components}
        return Response(ReceivedShipmentSerializer(answer).data, status=status.HTTP_201_CREATED)
