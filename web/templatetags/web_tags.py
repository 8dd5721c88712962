from datetime import datetime, timedelta
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils import timezone

from pms_site.timefmt import format_datetime, format_duration, utc_offset
from web.navigation import navigation_for

register = template.Library()


@register.inclusion_tag("web/_nav.html", takes_context=True)
def main_navigation(context):
    request = context["request"]
    links = [(entry, request.path.startswith(entry.url)) for entry in navigation_for(request.user)]
    return {"links": links, "user": request.user}


@register.simple_tag
def time_zone_name():
    """The page's time zone, named once per page: "Asia/Bangkok (UTC+07)"."""
    return f"{timezone.get_current_timezone_name()} (UTC{utc_offset(timezone.localtime())})"


@register.filter
def when(value, detail=""):
    """The one date-time format, in the page's time zone: "2026-11-25 14:05"; ``when:"seconds"`` adds
    seconds. Empty for no time."""
    if not isinstance(value, datetime):
        return ""
    return format_datetime(value, seconds=detail == "seconds")


@register.filter
def duration(value):
    """The one duration format, "6 h 21 min", of a timedelta or of a number of seconds."""
    if value is None or value == "":
        return ""
    return format_duration(value if isinstance(value, timedelta) else timedelta(seconds=float(value)))


@register.filter
def ago(value):
    """ "6 h 21 min ago" for a past time."""
    if not isinstance(value, datetime):
        return ""
    return f"{format_duration(timezone.now() - value)} ago"


@register.simple_tag
def record_swap_url(discrepancy, dock):
    """The field form that records ``discrepancy``'s case in ``dock`` (a dock view: its position and the case
    recorded there), prefilled, dated at the first sighting and carrying the discrepancy it resolves."""
    action = "replace" if dock.case else "install"
    query = {
        "serial": discrepancy.case.serial,
        "reason": "Unlogged swap seen in telemetry",
        "at": timezone.localtime(discrepancy.first_seen).strftime("%Y-%m-%dT%H:%M"),
        "discrepancy": discrepancy.pk,
    }
    return f"{reverse('web:field-change', args=[dock.position.pk, action])}?{urlencode(query)}"
