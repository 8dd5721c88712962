"""The alarm list, the field forms' review and the local times in headless Chromium, at 1366 px and on a
375 px phone: nothing wider than the screen, every action within reach. Screenshots: var/test-artifacts/."""

import os
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from alarms.models import Alarm, AlarmKind
from assets.models import Site, Status
from telemetry.models import Discrepancy
from tests.alarms.helpers import raised_alarm
from tests.conftest import ARTIFACTS
from tests.factories import CaseFactory, UserFactory, build_site
from tests.web.conftest import add_readings
from tests.web.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

WIDTHS = {"desktop": {"width": 1366, "height": 800}, "phone": {"width": 375, "height": 740}}


@pytest.fixture(params=list(WIDTHS))
def screen(request, browser):
    """A page in a browser window 1366 px or 375 px wide (a phone), under the Content Security Policy."""
    phone = request.param == "phone"
    context = browser.new_context(
        viewport=WIDTHS[request.param], device_scale_factor=2 if phone else 1, is_mobile=phone
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.width_name = request.param
    yield page
    context.close()


def fits_and_shoot(page, name):
    """No horizontal scroll on the page; a full-page screenshot."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"{name} is {width}px wide at {viewport}px"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web-{name}-{page.width_name}.png"), full_page=True)


def test_alarm_list_filters_are_labelled_and_acknowledge_is_in_reach(screen, live_server):
    UserFactory(username="eng", groups=["Field engineer"])
    site = build_site(cabinets=1, docks=4, name="Chiang Mai North")
    kinds = [
        AlarmKind.CELL_OVER_VOLTAGE,
        AlarmKind.PACK_TEMPERATURE,
        AlarmKind.FET_OPEN,
        AlarmKind.CELL_DELTA,
    ]
    for kind, case in zip(kinds, site.test_cases.values(), strict=True):
        raised_alarm(site, case, kind=kind)
    raised_alarm(site, kind=AlarmKind.SITE_STALE)
    # Messages as long as real ones, with a long site name: the table still fits its box.
    Site.objects.filter(pk=site.pk).update(name="Chiang Mai North Battery Storage Extension")
    for alarm in Alarm.objects.all():
        alarm.message = f"{alarm.message}, 3.712 V (limit 3.65 V) since the morning readings"
        alarm.save(update_fields=["message"])
    log_in(screen, live_server, "eng")
    screen.goto(f"{live_server.url}{reverse('alarms:list')}")
    defaults = [("Site", "All sites"), ("State", "Active"), ("Acknowledgement", "Acknowledged or not")]
    for label, shown in defaults:
        expect(screen.get_by_label(label, exact=True).locator("option:checked")).to_have_text(shown)
    assert "---------" not in screen.content() and "Unknown" not in screen.content()
    fits_and_shoot(screen, "alarm-list")
    table = screen.locator(".table-wrap").first
    box = table.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= screen.viewport_size["width"]
    assert table.evaluate("wrap => wrap.scrollWidth <= wrap.clientWidth"), "the table needs no scrolling"
    buttons = screen.get_by_role("button", name="Acknowledge")
    assert buttons.count() == 5
    first = buttons.first
    first.scroll_into_view_if_needed()
    button = first.bounding_box()
    assert button["x"] >= 0 and button["x"] + button["width"] <= screen.viewport_size["width"]
    assert button["height"] >= 44 or screen.width_name == "desktop"
    first.click()
    expect(screen.get_by_text("Acknowledged:")).to_be_visible()
    assert screen.get_by_role("button", name="Acknowledge").count() == 4
    screen.get_by_label("Acknowledgement").select_option("no")
    screen.get_by_role("button", name="Show").click()
    expect(screen.locator(".alarm-table tbody tr")).to_have_count(4)


def test_the_review_shows_the_services_problems_before_confirm(screen, live_server):
    UserFactory(username="eng", groups=["Field engineer"])
    site = build_site(cabinets=2, docks=4, name="Lamphun")
    faulty = CaseFactory(serial="0666", status=Status.FAULTY)
    log_in(screen, live_server, "eng")
    dock = site.test_docks[(2, 1)]
    screen.goto(f"{live_server.url}{reverse('web:field-change', args=[dock.pk, 'replace'])}")
    expect(screen.get_by_role("heading", name="Swap at")).to_contain_text("C2-D1")
    screen.get_by_label("New case's Case id").fill(faulty.serial)
    screen.get_by_label("Reason").fill("Weak cell")
    screen.get_by_role("button", name="Continue").click()
    serial = screen.locator(".has-error").filter(has=screen.get_by_label("New case's Case id"))
    expect(serial.locator(".errorlist")).to_contain_text("Case 0666 is faulty")
    status = screen.locator(".has-error").filter(has=screen.get_by_label("Status of the case taken out"))
    expect(status.locator(".errorlist")).to_contain_text("Choose the status of the case taken out")
    expect(screen.get_by_role("button", name="Confirm swap")).to_have_count(0)
    expect(screen.locator("#time-zone-note")).to_have_text("Times are in Asia/Bangkok (UTC+07).")
    fits_and_shoot(screen, "swap-review-errors")
    spare = CaseFactory(serial="0777")
    screen.get_by_label("New case's Case id").fill(spare.serial)
    screen.get_by_label("Status of the case taken out").select_option("faulty")
    screen.get_by_label("Install incomplete case").check()  # a spare case fresh from the factory is bare
    screen.get_by_role("button", name="Continue").click()
    expect(screen.get_by_role("heading", name="Check and confirm")).to_be_visible()
    fits_and_shoot(screen, "swap-review-ok")
    screen.get_by_role("button", name="Confirm swap").click()
    expect(screen.get_by_text("Swapped at PMS-")).to_contain_text("C2-D1")
    fits_and_shoot(screen, "swap-done")


def test_dock_names_and_local_times_on_the_monitoring_pages_fit_the_screen(screen, live_server):
    UserFactory(username="mgr", groups=["Manager", "Field engineer"])
    site = build_site(cabinets=2, docks=12, name="Phone Site")
    add_readings(site, minutes=10, step_seconds=60)
    roaming = site.test_cases[(1, 1)]
    Discrepancy.objects.create(
        case=roaming,
        kind=Discrepancy.Kind.OTHER_DOCK,
        observed_site=site,
        observed_dock=23,
        recorded_site=site,
        recorded_dock=1,
        first_seen=timezone.now() - timedelta(hours=6, minutes=21),
        last_seen=timezone.now(),
        sample_count=40,
    )
    log_in(screen, live_server, "mgr")
    screen.goto(f"{live_server.url}{reverse('web:site', args=[site.pk])}")
    expect(screen.locator(".dock-number").last).to_have_text("C2-D12")
    expect(screen.locator("#time-zone-note")).to_have_text("Times are in Asia/Bangkok (UTC+07).")
    expect(screen.locator("#site-clock")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"))
    expect(screen.locator("#chart-source")).to_have_text(re.compile(r"one point per \d+ (s|min|h|d)\b"))
    fits_and_shoot(screen, "site-dock-names")
    screen.goto(f"{live_server.url}{reverse('web:discrepancies')}")
    expect(screen.get_by_text("C2-D11 (reported as dock 23)")).to_be_visible()
    fits_and_shoot(screen, "discrepancies")
    screen.goto(f"{live_server.url}{reverse('web:case', args=[roaming.serial])}")
    expect(screen.get_by_text("PMS-").first).to_be_visible()
    fits_and_shoot(screen, "case-page")
