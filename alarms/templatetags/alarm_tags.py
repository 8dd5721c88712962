from zoneinfo import ZoneInfo

from django import template
from django.utils import timezone

from pms_site.timefmt import format_datetime

register = template.Library()


@register.filter
def site_time(value, site):
    """``value`` in ``site``'s local time with its offset, "2026-11-25 14:05 +07": a list that mixes sites
    stays unambiguous."""
    if value is None:
        return ""
    with timezone.override(ZoneInfo(site.time_zone)):
        return format_datetime(value, offset=True)
