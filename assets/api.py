"""REST API over the asset model. Reads are filtered querysets; every write calls a service."""

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from assets import permissions, services
from assets.filtersets import (
    ComponentEventFilterSet,
    ComponentFilterSet,
    InstallationFilterSet,
    PositionFilterSet,
    SiteFilterSet,
)
from assets.models import Case, Component, ComponentEvent, Installation, Kind, Position, Site
from assets.serializers import (
    ComponentEventSerializer,
    InstallationSerializer,
    InstallInputSerializer,
    LocatedComponentSerializer,
    PositionSerializer,
    ReceiveInputSerializer,
    RemoveInputSerializer,
    SetStatusInputSerializer,
    SiteSerializer,
    SwapInputSerializer,
)


def _validated(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class AssetReadViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [permissions.ModelPermissionsWithView]


class SiteViewSet(AssetReadViewSet):
    queryset = Site.objects.all()
    serializer_class = SiteSerializer
    filterset_class = SiteFilterSet


class LocatedComponentViewSet(AssetReadViewSet):
    """Components with where they are now."""

    serializer_class = LocatedComponentSerializer
    filterset_class = ComponentFilterSet


# Actions take ``format``: the router also routes their ``.json`` form (e.g. receive.json) to them.
class ComponentViewSet(LocatedComponentViewSet):
    queryset = Component.objects.all()

    @extend_schema(request=ReceiveInputSerializer, responses={201: LocatedComponentSerializer(many=True)})
    @action(
        detail=False,
        methods=["post"],
        permission_classes=[permissions.requires(permissions.RECEIVE_COMPONENTS)],
    )
    def receive(self, request, format=None):
        """Receive a shipment: one component in stock per serial, all or none."""
        components = services.components_receive(
            **_validated(ReceiveInputSerializer, request), user=request.user
        )
        return Response(self.get_serializer(components, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SetStatusInputSerializer, responses={200: LocatedComponentSerializer})
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[permissions.requires(permissions.SET_COMPONENT_STATUS)],
    )
    def set_status(self, request, pk=None, format=None):
        """Set the status of a component that is not installed."""
        component = services.component_set_status(
            component=self.get_object(), **_validated(SetStatusInputSerializer, request), user=request.user
        )
        return Response(self.get_serializer(component).data)


class CaseViewSet(LocatedComponentViewSet):
    queryset = Case.objects.all()


class CabinetViewSet(LocatedComponentViewSet):
    queryset = Component.objects.filter(kind=Kind.CABINET)


class PositionViewSet(AssetReadViewSet):
    queryset = Position.objects.all()
    serializer_class = PositionSerializer
    filterset_class = PositionFilterSet


class InstallationViewSet(AssetReadViewSet):
    """Installation records; install, remove and swap are actions on them."""

    queryset = Installation.objects.select_related("component", "position")
    serializer_class = InstallationSerializer
    filterset_class = InstallationFilterSet

    @extend_schema(request=InstallInputSerializer, responses={201: InstallationSerializer})
    @action(detail=False, methods=["post"], permission_classes=[permissions.requires(permissions.INSTALL)])
    def install(self, request, format=None):
        installation = services.component_install(
            **_validated(InstallInputSerializer, request), user=request.user
        )
        return Response(self.get_serializer(installation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RemoveInputSerializer, responses={200: InstallationSerializer})
    @action(detail=False, methods=["post"], permission_classes=[permissions.requires(permissions.REMOVE)])
    def remove(self, request, format=None):
        installation = services.component_remove(
            **_validated(RemoveInputSerializer, request), user=request.user
        )
        return Response(self.get_serializer(installation).data)

    @extend_schema(request=SwapInputSerializer, responses={201: InstallationSerializer})
    @action(detail=False, methods=["post"], permission_classes=[permissions.requires(*permissions.SWAP)])
    def swap(self, request, format=None):
        """Replace the component at a position; answers with the new installation."""
        installation = services.component_swap(**_validated(SwapInputSerializer, request), user=request.user)
        return Response(self.get_serializer(installation).data, status=status.HTTP_201_CREATED)


class ComponentEventViewSet(AssetReadViewSet):
    queryset = ComponentEvent.objects.all()
    serializer_class = ComponentEventSerializer
    filterset_class = ComponentEventFilterSet
