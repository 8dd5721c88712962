"""REST API over the asset model. Reads are filtered querysets; every write calls a service."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from assets import permissions, selectors, services
from assets.filtersets import (
    ComponentEventFilterSet,
    ComponentFilterSet,
    InstallationFilterSet,
    PositionFilterSet,
    SiteFilterSet,
)
from assets.models import Case, Component, ComponentEvent, Installation, Kind, Position, Site
from assets.serializers import (
    AsOfSerializer,
    ComponentEventSerializer,
    DockAsOfQuerySerializer,
    InstallationSerializer,
    InstallInputSerializer,
    LocatedComponentSerializer,
    PositionSerializer,
    RemoveInputSerializer,
    SerialAsOfQuerySerializer,
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


# Actions take ``format``: the router also routes their ``.json`` form (e.g. set_status.json) to them.
# Components are received by stock's API (stock/api.py), which puts them into a stock location.
class ComponentViewSet(LocatedComponentViewSet):
    queryset = Component.objects.all()

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


class AsOfViewSet(viewsets.GenericViewSet):
    """What the installation records say was where at a time (``at``, default now): in a dock of a PMS, the
    place of a case, the case that held an acquisition board. Nothing there is an answer (null), not an
    error."""

    queryset = Installation.objects.all()
    permission_classes = [permissions.ModelPermissionsWithView]
    pagination_class = None
    filter_backends = []

    @extend_schema(parameters=[DockAsOfQuerySerializer], responses={200: AsOfSerializer})
    @action(detail=False, methods=["get"])
    def dock(self, request, format=None):
        """The case in PMS-wide dock ``dock`` of the PMS ``pms_id`` at ``at``."""
        query = _query(DockAsOfQuerySerializer, request)
        if not Site.objects.filter(pms_id=query["pms_id"]).exists():
            raise serializers.ValidationError(
                {"pms_id": [f"There is no site with PMS id {query['pms_id']!r}."]}
            )
        installation = selectors.case_in_pms_dock_at(
            pms_id=query["pms_id"], pms_dock=query["dock"], at=query["at"]
        )
        return _answer(query["at"], installation.component if installation else None, installation)

    @extend_schema(parameters=[SerialAsOfQuerySerializer], responses={200: AsOfSerializer})
    @action(detail=False, methods=["get"])
    def case(self, request, format=None):
        """Where the case with Case id ``serial`` was at ``at``."""
        query = _query(SerialAsOfQuerySerializer, request)
        case = _by_serial(Kind.CASE, query["serial"])
        return _answer(query["at"], case, selectors.installation_at(component=case, at=query["at"]))

    @extend_schema(parameters=[SerialAsOfQuerySerializer], responses={200: AsOfSerializer})
    @action(detail=False, methods=["get"])
    def board(self, request, format=None):
        """The case that held the acquisition board with hardware id ``serial`` at ``at``, and its place."""
        query = _query(SerialAsOfQuerySerializer, request)
        board = _by_serial(Kind.ACQ_BOARD, query["serial"])
        in_case = selectors.installation_at(component=board, at=query["at"])
        case = selectors.case_holding_board_at(board=board, at=query["at"])
        return _answer(query["at"], case, in_case)


def _query(serializer_class, request):
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return {"at": timezone.now(), **serializer.validated_data}


def _by_serial(kind, serial):
    component = selectors.component_by_serial(kind=kind, serial=serial)
    if component is None:
        raise serializers.ValidationError({"serial": [f"There is no {Kind(kind).label.lower()} {serial!r}."]})
    return component


def _answer(at, case, installation):
    location = selectors.location_of_component(component=case, at=at) if case else None
    return Response(
        AsOfSerializer(
            {
                "at": at,
                "case": case,
                "installation": installation.pk if installation else None,
                "location": location,
            }
        ).data
    )
