"""Form fields the apps share. Like all of pms_site that apps import, this imports no app."""

from datetime import timedelta

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

# PostgreSQL refuses a UTC offset of 16 hours or more (Python accepts up to 24).
MAX_UTC_OFFSET = timedelta(hours=16)


class StorableTimeMixin:
    """A form's date-time field whose value PostgreSQL takes: an aware time with an offset under 16 hours,
    turned into the current time zone (years 1 to 9999 there)."""

    def to_python(self, value):
        time = super().to_python(value)
        if time is None:
            return None
        if abs(time.utcoffset()) >= MAX_UTC_OFFSET:
            raise ValidationError("The UTC offset must be between -15:59 and +15:59.", code="offset")
        try:
            return timezone.localtime(time)
        except OverflowError:
            raise ValidationError("This time is out of range (years 1 to 9999).", code="overflow") from None


class StorableDateTimeField(StorableTimeMixin, forms.DateTimeField):
    pass


class StorableIsoDateTimeField(StorableTimeMixin, django_filters.fields.IsoDateTimeField):
    pass


class StorableIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = StorableIsoDateTimeField
