"""Filters on alarms for the alarm list page: each labelled, each with a plain "any" choice."""

import django_filters

from alarms.models import Alarm, AlarmKind, Severity
from assets.models import Site


class AlarmFilterSet(django_filters.FilterSet):
    site = django_filters.ModelChoiceFilter(
        queryset=Site.objects.all(), label="Site", empty_label="All sites"
    )
    state = django_filters.ChoiceFilter(
        label="State",
        choices=[(Alarm.State.ACTIVE, "Active"), (Alarm.State.CLEARED, "Cleared")],
        empty_label="Active and cleared",
    )
    severity = django_filters.ChoiceFilter(
        label="Severity", choices=Severity.choices, empty_label="Any severity"
    )
    kind = django_filters.ChoiceFilter(label="Alarm", choices=AlarmKind.choices, empty_label="Any alarm")
    acknowledged = django_filters.ChoiceFilter(
        label="Acknowledgement",
        choices=[("no", "Not yet acknowledged"), ("yes", "Acknowledged")],
        empty_label="Acknowledged or not",
        method="filter_acknowledged",
    )

    class Meta:
        model = Alarm
        fields = ["site", "state", "severity", "kind", "acknowledged"]

    def filter_acknowledged(self, queryset, name, value):
        return queryset.filter(acknowledged_at__isnull=value == "no")
