"""Filters on alarms for the alarm list page."""

import django_filters

from alarms.models import Alarm, AlarmKind, Severity
from assets.models import Site


class AlarmFilterSet(django_filters.FilterSet):
    site = django_filters.ModelChoiceFilter(queryset=Site.objects.all())
    state = django_filters.ChoiceFilter(
        choices=[(Alarm.State.ACTIVE, "Active"), (Alarm.State.CLEARED, "Cleared")],
        empty_label="Active and cleared",
    )
    severity = django_filters.ChoiceFilter(choices=Severity.choices, empty_label="Any severity")
    kind = django_filters.ChoiceFilter(choices=AlarmKind.choices, empty_label="Any kind")
    unacknowledged = django_filters.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", label="Not yet acknowledged"
    )

    class Meta:
        model = Alarm
        fields = ["site", "state", "severity", "kind", "unacknowledged"]
