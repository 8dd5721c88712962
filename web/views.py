"""Server-rendered pages. Views are thin: reads come from selectors, writes go through assets.services."""

import csv
import itertools
from functools import partial
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from alarms.selectors import active_alarms_for_site, alarms_for_case, alarms_for_site
from analytics import selectors as analytics_selectors
from assets.filtersets import SiteFilterSet
from assets.models import Case, Component, Installation, Kind, Position, Site
from assets.permissions import RECEIVE_COMPONENTS
from assets.selectors import component_in_position_at, location_of_component, location_of_position
from telemetry import export, series
from telemetry import selectors as telemetry_selectors
from web import selectors
from web.forms import CHANGE_FORMS, RangeForm
from web.navigation import FIELD_PERMS, MONITOR_PERMS, navigation_for
from web.scan import serial_from_scan
from web.selectors import SiteStatus
from web.warehouse import warehouse_home


def page(perms):
    """Login required (anonymous users go to the login page); then ``perms``, or a 403 page."""

    def decorate(view):
        return login_required(permission_required(perms, raise_exception=True)(view))

    return decorate


def render_in_zone(request, template, context, time_zone):
    """Render with times shown in ``time_zone`` (a site's local time)."""
    with timezone.override(ZoneInfo(time_zone)):
        return render(request, template, context)


def favicon(request):
    return redirect(static("favicon.svg"), permanent=True)


@login_required
def home(request):
    entries = [entry for entry in navigation_for(request.user) if entry.url_name.startswith("web:")]
    if entries:
        return redirect(entries[0].url)
    if request.user.has_perm(RECEIVE_COMPONENTS):
        return render(request, "web/warehouse_home.html", warehouse_home())
    return render(request, "web/home.html", {"entries": navigation_for(request.user)})


# --- Fleet and sites ---------------------------------------------------------------------------------------

FLEET_SORTS = {
    "status": lambda row: (SiteStatus.ORDER[row.status], row.site.name.lower()),
    "name": lambda row: row.site.name.lower(),
    "pms_id": lambda row: row.site.pms_id,
    "packs": lambda row: row.packs,
    "cell_min": lambda row: _missing_last(row.cell_min),
    "cell_max": lambda row: _missing_last(row.cell_max),
    "delta_max": lambda row: _missing_last(row.delta_max),
    "temp_max": lambda row: _missing_last(row.temp_max),
    "pv_power": lambda row: _missing_last(row.pv_power),
    "alarms": lambda row: row.alarms.total,
    "last_seen": lambda row: _missing_last(row.last_seen and row.last_seen.timestamp()),
}


FLEET_PAGE_SIZE = 50


def _missing_last(value):
    return (value is None, value or 0)


def _searched_sites(request):
    """The sites kept by the filters in the query string (the sites API's; ``q`` is the search box), and
    the search text."""
    filters = SiteFilterSet(request.GET, queryset=Site.objects.all())
    sites = filters.qs  # validates the filters' form first
    return sites, filters.form.cleaned_data.get("q", "")


@page(MONITOR_PERMS)
def fleet(request):
    sites, query = _searched_sites(request)
    sort = request.GET.get("sort", "status")
    descending = sort.startswith("-")
    key = FLEET_SORTS.get(sort.lstrip("-"), FLEET_SORTS["status"])
    # Paging before the figures: sorted by status, name, PMS id, alarms or last data, only the page's 50
    # sites have their packs counted and their cells and PV computed; the other sorts need every site's.
    page_only = sort.lstrip("-") not in selectors.FLEET_FIGURES
    sites = sites.only("id", "name", "pms_id")  # what the rows show of every site: 1,000 models built lighter
    rows = sorted(selectors.fleet_summaries(sites, figures=not page_only), key=key, reverse=descending)
    page = Paginator(rows, FLEET_PAGE_SIZE).get_page(request.GET.get("page"))
    if page_only:
        selectors.add_fleet_figures(page.object_list)
    context = {
        "rows": page.object_list,
        "page": page,
        "q": query,
        "sort": sort,
        "stale_seconds": settings.PMS_STALE_AFTER_MINUTES * 60,
    }
    context["fleet_energy"] = analytics_selectors.fleet_energy()
    context["attention_count"] = analytics_selectors.needs_attention().count()
    return render(request, "web/fleet.html", context)


def _site_live_context(request, site):
    layout = selectors.site_packs(site)
    devices = telemetry_selectors.device_states(site=site)
    return {
        "site": site,
        "can_record": request.user.has_perms(FIELD_PERMS),
        "layout": layout,
        "docks": [dock for cabinet in layout for dock in cabinet.docks],
        "heatmap": selectors.cell_heatmap(layout),
        "devices": devices,
        "updated_at": timezone.now(),
        "data_as_of": selectors.newest_reading_time(layout, devices),
    }


@page(MONITOR_PERMS)
def site_detail(request, pk):
    site = get_object_or_404(Site, pk=pk)
    context = _site_live_context(request, site)
    context.update(
        {
            "range_form": RangeForm(initial={"range": "24h"}),
            "data_start": series.data_start(site=site),
            "changes": selectors.recent_site_changes(context["layout"]),
            "discrepancies": telemetry_selectors.open_discrepancies(site=site),
            "active_alarms": active_alarms_for_site(site=site),
            "recent_alarms": alarms_for_site(site=site, limit=10),
            "energy": analytics_selectors.site_energy(site=site),
            "attention": analytics_selectors.site_attention(site=site),
        }
    )
    return render_in_zone(request, "web/site_detail.html", context, site.time_zone)


@page(MONITOR_PERMS)
def site_live(request, pk):
    """The parts of the site page that follow the latest readings, as an HTML fragment for live refresh."""
    site = get_object_or_404(Site, pk=pk)
    return render_in_zone(request, "web/_site_live.html", _site_live_context(request, site), site.time_zone)


def _range_or_error(request, time_zone, life_start=None):
    with timezone.override(ZoneInfo(time_zone)):
        form = RangeForm(request.GET, life_start=life_start)
        if not form.is_valid():
            return None, JsonResponse({"errors": form.errors}, status=400)
    return series.series_resolution(start=form.cleaned_data["start"], end=form.cleaned_data["end"]), None


def _epoch_ms(at):
    return None if at is None else int(at.timestamp() * 1000)


def _resolution_json(resolution, data_start):
    """The range drawn, and where data begins (the charts say "no data before" when that is later)."""
    return {
        "start": _epoch_ms(resolution.start),
        "end": _epoch_ms(resolution.end),
        "data_start": _epoch_ms(data_start),
        "bucket_seconds": int(resolution.bucket.total_seconds()),
        "source": resolution.source,
    }


@page(MONITOR_PERMS)
def site_series(request, pk):
    site = get_object_or_404(Site, pk=pk)
    resolution, error = _range_or_error(request, site.time_zone)
    if error:
        return error
    return JsonResponse(
        {
            **_resolution_json(resolution, series.data_start(site=site)),
            "packs": series.pack_series(resolution=resolution, site=site),
            "devices": series.device_series(resolution=resolution, site=site),
        }
    )


# --- Cases -------------------------------------------------------------------------------------------------


def _local_zone(location):
    """The zone a place's times are shown in: its site's, else the warehouse's (the default zone)."""
    return location.site.time_zone if location and location.site else settings.TIME_ZONE


@page(MONITOR_PERMS)
def case_detail(request, serial):
    case = get_object_or_404(Case, serial=serial)
    location = location_of_component(component=case)
    life_start = series.data_start(case=case)
    context = {
        "case": case,
        "location": location,
        "parts": selectors.component_parts(case),
        "timeline": selectors.component_timeline(case),
        "alarms": alarms_for_case(case=case, limit=20),
        "discrepancies": telemetry_selectors.open_discrepancies().filter(case=case),
        "reattribution_running": telemetry_selectors.reattribution_running_for_case(case_id=case.pk),
        "range_form": RangeForm(initial={"range": "life" if life_start else "24h"}, life_start=life_start),
        "health": analytics_selectors.case_health(case=case),
        "life_chart": analytics_selectors.case_life_chart(case=case),
    }
    return render_in_zone(request, "web/case_detail.html", context, _local_zone(location))


@page(MONITOR_PERMS)
def case_series(request, serial):
    case = get_object_or_404(Case, serial=serial)
    time_zone = _local_zone(location_of_component(component=case))
    life_start = series.data_start(case=case)
    resolution, error = _range_or_error(request, time_zone, life_start=life_start)
    if error:
        return error
    return JsonResponse(
        {
            **_resolution_json(resolution, life_start),
            "packs": series.pack_series(resolution=resolution, case=case),
            "cells": series.cell_series(resolution=resolution, case=case),
        }
    )


# --- CSV export --------------------------------------------------------------------------------------------


class Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value):
        return value


def _export(request, *, time_zone, name, header, rows, life_start=None):
    """Stream ``rows(start=, end=, zone=)`` as CSV over the range in the query, or say what is wrong with it.
    The file is named by the range in ``time_zone``, with its UTC offset."""
    zone = ZoneInfo(time_zone)
    with timezone.override(zone):
        form = RangeForm(request.GET, life_start=life_start)
        if not form.is_valid():
            return HttpResponseBadRequest(f"Cannot export: {form.error_text()}", content_type="text/plain")
    start, end = (timezone.localtime(form.cleaned_data[key], zone) for key in ("start", "end"))
    writer = csv.writer(Echo())
    lines = itertools.chain(
        [writer.writerow(header)], (writer.writerow(row) for row in rows(start=start, end=end, zone=zone))
    )
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    filename = f"{name}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}{end:%z}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@page(MONITOR_PERMS)
def export_site(request, pk):
    site = get_object_or_404(Site, pk=pk)
    return _export(
        request,
        time_zone=site.time_zone,
        name=f"{site.pms_id}-packs",
        header=export.PACK_CSV_HEADER,
        rows=partial(export.pack_csv_rows, site=site),
    )


@page(MONITOR_PERMS)
def export_case(request, serial):
    case = get_object_or_404(Case, serial=serial)
    return _export(
        request,
        time_zone=_local_zone(location_of_component(component=case)),
        name=f"case-{case.serial}",
        header=export.PACK_CSV_HEADER,
        rows=partial(export.pack_csv_rows, case=case),
        life_start=series.data_start(case=case),
    )


@page(MONITOR_PERMS)
def export_device(request, pk):
    device = get_object_or_404(Component, pk=pk, kind__in=[Kind.MPPT, Kind.INVERTER])
    return _export(
        request,
        time_zone=_local_zone(location_of_component(component=device)),
        name=device.configured_id or device.serial,
        header=export.DEVICE_CSV_HEADER,
        rows=partial(export.device_csv_rows, device=device),
    )


# --- Search ------------------------------------------------------------------------------------------------


@page(MONITOR_PERMS)
def search(request):
    """The header's search box: an exact id jumps to its page, anything else lists what it finds."""
    results = selectors.search(request.GET.get("q", "")[:100], request.user)
    if results.jump_to:
        return redirect(results.jump_to)
    return render(request, "web/search.html", {"results": results})


# --- Discrepancies -----------------------------------------------------------------------------------------


@page(MONITOR_PERMS)
def discrepancies(request):
    open_discrepancies = list(telemetry_selectors.open_discrepancies())
    docks = selectors.discrepancy_docks(open_discrepancies)
    rows = [
        {
            "discrepancy": discrepancy,
            "observed": docks.get((discrepancy.observed_site_id, discrepancy.observed_dock)),
            "recorded": docks.get((discrepancy.recorded_site_id, discrepancy.recorded_dock)),
        }
        for discrepancy in open_discrepancies
    ]
    context = {"rows": rows, "can_record": request.user.has_perms(FIELD_PERMS)}
    return render(request, "web/discrepancies.html", context)


# --- Field work --------------------------------------------------------------------------------------------


@page(FIELD_PERMS)
def field_home(request):
    sites, query = _searched_sites(request)
    return render(request, "web/field_home.html", {"sites": sites, "q": query})


@page(FIELD_PERMS)
def field_find_case(request):
    serial = serial_from_scan(request.GET.get("case", "").strip())
    # PostgreSQL cannot compare a NUL character: no case has one.
    case = Case.objects.filter(serial=serial).first() if "\x00" not in serial else None
    if case is None:
        sites = Site.objects.all()
        error = f"There is no case with Case id {serial!r}. Check the id engraved on the case."
        return render(request, "web/field_home.html", {"sites": sites, "case_error": error, "case": serial})
    return redirect("web:field-component", pk=case.pk)


@page(FIELD_PERMS)
def field_site(request, pk):
    site = get_object_or_404(Site, pk=pk)
    context = {"site": site, "layout": selectors.site_layout_observed(site), "can_record": True}
    return render_in_zone(request, "web/field_site.html", context, site.time_zone)


def _place_context(position):
    location = location_of_position(position=position)
    return {
        "position": position,
        "location": location,
        "occupant": component_in_position_at(position=position),
        "time_zone": _local_zone(location),
    }


@page(FIELD_PERMS)
def field_position(request, pk):
    position = get_object_or_404(Position.objects.select_related("parent", "site"), pk=pk)
    context = _place_context(position)
    occupant = context["occupant"]
    context["parts"] = selectors.component_parts(occupant) if occupant else []
    return render_in_zone(request, "web/field_position.html", context, context["time_zone"])


@page(FIELD_PERMS)
def field_component(request, pk):
    """A case found by its Case id: its dock when installed, else the case itself with its parts."""
    case = get_object_or_404(Case, pk=pk)
    installation = Installation.objects.filter(component=case, removed_at__isnull=True).first()
    if installation is not None:
        return redirect("web:field-position", pk=installation.position_id)
    context = {"component": case, "parts": selectors.component_parts(case)}
    return render(request, "web/field_component.html", context)


@page(FIELD_PERMS)
@require_http_methods(["GET", "POST"])
def field_change(request, pk, action):
    """Install, replace or remove at one position, in two steps: fill in, then confirm."""
    if action not in CHANGE_FORMS:
        raise Http404("No such change.")
    position = get_object_or_404(Position.objects.select_related("parent", "site"), pk=pk)
    context = _place_context(position)
    form_class = CHANGE_FORMS[action]
    step = "edit"
    with timezone.override(ZoneInfo(context["time_zone"])):
        if request.method == "GET":
            initial = {key: value for key, value in request.GET.items() if key in form_class.base_fields}
            if context["occupant"] is not None:
                initial.setdefault("old_component", context["occupant"].pk)
            form = form_class(position=position, user=request.user, initial=initial)
        else:
            form = form_class(request.POST, position=position, user=request.user)
            if form.is_valid() and request.POST.get("step") == "confirm":
                installation = form.apply(user=request.user)
                if installation is not None:
                    return redirect("web:field-result", pk=installation.pk)
            elif request.POST.get("step") != "edit" and form.review():
                step = "confirm"
        context.update({"form": form, "action": action, "step": step})
        return render(request, "web/field_change.html", context)


@page(MONITOR_PERMS)
def field_result(request, pk):
    installation = get_object_or_404(
        Installation.objects.select_related(
            "component", "position", "position__parent", "installed_by", "removed_by"
        ),
        pk=pk,
    )
    location = location_of_position(position=installation.position, at=installation.installed_at)
    context = {
        "installation": installation,
        "location": location,
        "replaced": selectors.installation_replaced(installation),
        "resolved": telemetry_selectors.discrepancies_resolved_with(installation=installation),
    }
    return render_in_zone(request, "web/field_result.html", context, _local_zone(location))
