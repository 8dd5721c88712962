from zoneinfo import ZoneInfo

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def site_time(value, site):
    """``value`` in ``site``'s local time, as "2026-11-25 14:05 +07", so mixed-site lists stay unambiguous."""
    if value is None:
        return ""
    return f"{timezone.localtime(value, ZoneInfo(site.time_zone)):%Y-%m-%d %H:%M %z}"
