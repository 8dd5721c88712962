"""Admin bases every app's admin uses. Like all of pms_site that apps import, this imports no app."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.constants import LOOKUP_SEP

from pms_site.forms import StorableDateTimeField

COMPARISONS = {"", "exact", "gt", "gte", "lt", "lte"}


def storable_time_lookup(transform, value):
    """Whether PostgreSQL can take ``value`` for this lookup on a date-time field."""
    if transform == "year":
        return value.isdigit() and 1 <= int(value) <= 9999
    if transform in COMPARISONS:
        try:
            StorableDateTimeField().clean(value)
        except ValidationError:
            return False
    return True


class StorableTimeLookupsMixin:
    """A list filter on a time with a value PostgreSQL cannot take (a UTC offset of 16 hours or more, a year
    beyond 9999) is refused with a 400, before it reaches the database."""

    def lookup_allowed(self, lookup, value, request=None):
        name, _, transform = lookup.partition(LOOKUP_SEP)
        field = next((field for field in self.model._meta.fields if field.name == name), None)
        if isinstance(field, models.DateTimeField) and not storable_time_lookup(transform, value):
            return False
        return super().lookup_allowed(lookup, value, request)


class ReadOnlyAdmin(StorableTimeLookupsMixin, admin.ModelAdmin):
    """For rows written only by the apps' own code (the ingest pipeline, the alarm evaluation)."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
