"""The analytics charts in headless Chromium, under the Content Security Policy."""

import os
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.services import analytics_refresh
from assets.constants import CELL_BLOCKS_PER_CASE
from telemetry.rollups import ONE_HOUR
from tests.analytics.helpers import pack_minute
from tests.factories import UserFactory, build_site
from tests.reliability.test_security_browser import REPORT_VIOLATIONS
from tests.web.test_browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_the_energy_and_health_charts_draw_under_the_content_security_policy(browser, live_server):
    UserFactory(username="mgr", groups=["Manager"])
    site = build_site(cabinets=1, docks=4, name="Chiang Mai North")
    zone = ZoneInfo(site.time_zone)
    start = datetime.combine(timezone.now().astimezone(zone).date() - timedelta(days=1), time(10), zone)
    case = site.test_cases[(1, 1)]
    cells = [3.6] * CELL_BLOCKS_PER_CASE
    cells[6] = 3.55
    for i in range(90):
        pack_minute(case, site, start + timedelta(minutes=i), volts=50.0, amps=-6.0, cells=cells)
    analytics_refresh(start=start, end=start + 2 * ONE_HOUR)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda message: "CSP" in message.text and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, "mgr")

    page.goto(f"{live_server.url}{reverse('web:site', args=[site.pk])}")
    page.locator("#chart-energy canvas").first.wait_for()
    page.goto(f"{live_server.url}{reverse('web:case', args=[case.serial])}")
    for chart in ("imbalance", "deviation", "resistance", "use"):
        box = page.locator(f"#chart-health-{chart} canvas").first.bounding_box()
        assert box and box["width"] > 200, chart
    screenshot(page, "case-health")
    context.close()

    assert errors == []
