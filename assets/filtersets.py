"""Filters on the asset querysets, shared by the API and the web pages."""

import django_filters
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from assets import selectors
from assets.models import Component, ComponentEvent, Installation, Kind, Position, Site, Status
from pms_site.forms import StorableIsoDateTimeFilter


class SiteFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search: name, PMS id or location contains")
    name = django_filters.CharFilter(lookup_expr="icontains")
    pms_id = django_filters.CharFilter(lookup_expr="iexact", label="PMS id")

    class Meta:
        model = Site
        fields = ["q", "name", "pms_id"]

    def filter_q(self, queryset, name, value):
        return queryset.filter(
            Q(name__icontains=value) | Q(pms_id__icontains=value) | Q(location__icontains=value)
        )


def _position_on_site(site, prefix=""):
    """Q: the position at ``prefix`` is on ``site`` itself, or inside a component that is on it now."""
    return Q(**{f"{prefix}site": site}) | Q(
        **{f"{prefix}parent__in": selectors.components_on_site(site=site).values("pk")}
    )


class ComponentFilterSet(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Kind.choices)
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    serial = django_filters.CharFilter(lookup_expr="icontains")
    model_number = django_filters.CharFilter(lookup_expr="icontains")
    manufacturer = django_filters.CharFilter(lookup_expr="icontains")
    supplier = django_filters.CharFilter(lookup_expr="icontains")
    site = django_filters.ModelChoiceFilter(
        queryset=Site.objects.all(), method="filter_site", label="Site (where it is now)"
    )

    class Meta:
        model = Component
        fields = ["kind", "status", "serial", "model_number", "manufacturer", "supplier", "site"]

    @extend_schema_field(OpenApiTypes.INT)
    def filter_site(self, queryset, name, site):
        return queryset.filter(pk__in=selectors.components_on_site(site=site).values("pk"))


class PositionFilterSet(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Kind.choices)
    parent = django_filters.NumberFilter(field_name="parent_id")
    site = django_filters.ModelChoiceFilter(
        queryset=Site.objects.all(), method="filter_site", label="Site (directly or inside something on it)"
    )

    class Meta:
        model = Position
        fields = ["kind", "number", "parent", "site"]

    @extend_schema_field(OpenApiTypes.INT)
    def filter_site(self, queryset, name, site):
        return queryset.filter(_position_on_site(site))


class InstallationFilterSet(django_filters.FilterSet):
    component = django_filters.NumberFilter(field_name="component_id")
    serial = django_filters.CharFilter(field_name="component__serial", label="Serial of the component")
    position = django_filters.NumberFilter(field_name="position_id")
    kind = django_filters.ChoiceFilter(field_name="component_kind", choices=Kind.choices)
    site = django_filters.ModelChoiceFilter(
        queryset=Site.objects.all(), method="filter_site", label="Site (positions on it now)"
    )
    at = StorableIsoDateTimeFilter(method="filter_at", label="Active at (ISO 8601 time)")

    class Meta:
        model = Installation
        fields = ["component", "serial", "position", "kind", "site", "at"]

    @extend_schema_field(OpenApiTypes.INT)
    def filter_site(self, queryset, name, site):
        return queryset.filter(_position_on_site(site, "position__"))

    def filter_at(self, queryset, name, at):
        return queryset.filter(selectors.active_at(at))


class ComponentEventFilterSet(django_filters.FilterSet):
    component = django_filters.NumberFilter(field_name="component_id")
    type = django_filters.ChoiceFilter(choices=ComponentEvent.Type.choices)
    after = StorableIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    before = StorableIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = ComponentEvent
        fields = ["component", "type", "after", "before"]
