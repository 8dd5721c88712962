"""The analytics pages: the fleet's cases that need attention, and their CSV export. The site, case and fleet
pages take their analytics parts from analytics/selectors.py in web/views.py."""

import csv

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from analytics import selectors as analytics_selectors
from assets.models import Status
from web.navigation import MONITOR_PERMS
from web.views import page

ATTENTION_SORTS = ("light", *analytics_selectors.ATTENTION_KEYS)
ATTENTION_LABELS = {
    "imbalance": "Imbalance mV",
    "deviation": "Cell deviation mV",
    "resistance": "Resistance mOhm",
    "temperature": "Hours > 45 °C",
    "fet_temperature": "FET hours > 45 °C",
    "alarm": "Hours in alarm",
    "cycles": "Cycles",
}


def _actions(row):
    """(label, URL) of what the entry calls for: a swap planned in the field form, or the repair path
    (removal with the status "in repair"), both prefilled with the reason; none when not installed."""
    if row.position_id is None:
        return []
    reason = row.flagged[0]["reason"] if row.flagged else "health check"
    swap = reverse("web:field-change", args=[row.position_id, "replace"])
    repair = reverse("web:field-change", args=[row.position_id, "remove"])
    repair_query = {"reason": f"Repair: {reason}"[:200], "removed_status": Status.IN_REPAIR}
    return [
        ("Plan a swap", f"{swap}?{urlencode({'reason': f'Health: {reason}'[:200]})}"),
        ("Send for repair", f"{repair}?{urlencode(repair_query)}"),
    ]


def _sort(request):
    sort = request.GET.get("sort", "light")
    return sort if sort in ATTENTION_SORTS else "light"


@page(MONITOR_PERMS)
def attention(request):
    sort = _sort(request)
    rows = [(row, _actions(row)) for row in analytics_selectors.attention_rows(sort=sort)]
    columns = [(key, ATTENTION_LABELS[key]) for key in analytics_selectors.ATTENTION_KEYS]
    return render(request, "web/attention.html", {"rows": rows, "sort": sort, "columns": columns})


@page(MONITOR_PERMS)
def attention_csv(request):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="cases-needing-attention.csv"'
    writer = csv.writer(response)
    keys = analytics_selectors.ATTENTION_KEYS
    writer.writerow(["case", "site", "light", "warranty_end", *keys, "reasons"])
    for row in analytics_selectors.attention_rows(sort=_sort(request)):
        values = [(row.indicator(key) or {}).get("value") for key in keys]
        writer.writerow(
            [
                row.case.serial,
                row.health.site.pms_id if row.health.site else "",
                row.health.light,
                row.case.warranty_end or "",
                *("" if value is None else value for value in values),
                row.summary,
            ]
        )
    return response
