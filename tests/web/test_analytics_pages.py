"""The analytics on the pages by role: a site's energy and flagged cases, a case's health panel, the fleet's
"needs attention" list with its actions and CSV export."""

import csv
import html
import io
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.services import analytics_refresh
from assets.constants import CELL_BLOCKS_PER_CASE
from assets.models import Installation, Kind
from telemetry.rollups import ONE_HOUR
from tests.analytics.helpers import device_minutes, pack_minute
from tests.factories import ComponentFactory
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def analysed(site):
    """Two hours of figures for the site's cases: the first case's cell 7 sits 45 mV low under load; an MPPT
    made 0.6 kW on input 1 for 100 minutes."""
    zone = ZoneInfo(site.time_zone)
    yesterday = timezone.now().astimezone(zone).date() - timedelta(days=1)
    start = datetime.combine(yesterday, time(10), zone)  # within one site-local day
    weak = site.test_cases[(1, 1)]
    weak.warranty_end = date(2028, 6, 30)
    weak.save()
    for case in site.test_cases.values():
        cells = [3.6] * CELL_BLOCKS_PER_CASE
        if case == weak:
            cells[6] = 3.555
        for i in range(100):
            pack_minute(case, site, start + timedelta(minutes=i), volts=50.0, amps=-6.0, cells=cells)
    device_minutes(ComponentFactory(kind=Kind.MPPT, serial="MPPT-A"), site, start, 100, pv_watts=(600.0, 0.0))
    analytics_refresh(start=start, end=start + 2 * ONE_HOUR)
    return weak


@pytest.mark.parametrize("role", ["manager", "field", "warehouse"])
def test_monitoring_roles_see_the_analytics_on_site_case_and_fleet_pages(client, users, site, analysed, role):
    client_for(client, users[role])

    site_page = client.get(reverse("web:site", args=[site.pk])).content.decode()
    assert "Energy per day (kWh, site-local days)" in site_page
    assert "data for 1 h 40 min of 24 h" in site_page
    assert "MPPT-A (mppt) input 1: 1.00 kWh" in site_page
    assert "Cases needing attention" in site_page
    assert "cell 7 sits 45 mV below the pack median under load" in site_page

    case_page = client.get(reverse("web:case", args=[analysed.serial])).content.decode()
    assert "Cell deviation" in case_page
    assert 'id="health-data"' in case_page
    assert "cell 7 sits 45 mV below the pack median under load" in case_page

    fleet_page = client.get(reverse("web:fleet")).content.decode()
    assert "Cases needing attention: 1" in fleet_page
    assert "PV 1.0 kWh" in fleet_page


def test_the_attention_list_offers_a_swap_and_a_repair_and_shows_the_warranty(client, users, site, analysed):
    client_for(client, users["manager"])

    page = client.get(reverse("web:attention") + "?sort=deviation").content.decode()

    assert analysed.serial in page
    assert "2028-06-30" in page
    position = Installation.objects.get(component=analysed, removed_at=None).position_id
    assert reverse("web:field-change", args=[position, "replace"]) + "?reason=Health" in page
    assert "removed_status=in_repair" in page
    healthy = site.test_cases[(1, 2)]
    assert f">{healthy.serial}<" not in page


def test_plan_a_swap_and_send_for_repair_open_their_field_forms_prefilled(client, users, site, analysed):
    client_for(client, users["manager"])
    page = client.get(reverse("web:attention")).content.decode()
    links = dict(
        (label, html.unescape(href))
        for href, label in re.findall(r'<a[^>]* href="([^"]+)"[^>]*>(Plan a swap|Send for repair)</a>', page)
    )
    client_for(client, users["field"])

    swap_form = client.get(links["Plan a swap"]).content.decode()
    repair_form = client.get(links["Send for repair"]).content.decode()

    assert "<h1>Swap at" in swap_form
    assert 'value="Health: cell 7 sits 45 mV below the pack median under load"' in swap_form
    assert 'value="Repair: cell 7 sits 45 mV below the pack median under load"' in repair_form
    assert '<option value="in_repair" selected>' in repair_form


def test_the_attention_list_exports_as_csv(client, users, site, analysed):
    client_for(client, users["manager"])

    response = client.get(reverse("web:attention-export"))

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["case"], row["light"], row["warranty_end"], row["deviation"]) for row in rows] == [
        (analysed.serial, "red", "2028-06-30", "45.0")
    ]
    assert rows[0]["reasons"].startswith("cell 7 sits 45 mV below")


def test_the_attention_pages_need_a_monitoring_role(client, users, analysed):
    for url in (reverse("web:attention"), reverse("web:attention-export")):
        assert client.get(url).status_code == 302
    client_for(client, users["nobody"])
    for url in (reverse("web:attention"), reverse("web:attention-export")):
        assert client.get(url).status_code == 403
