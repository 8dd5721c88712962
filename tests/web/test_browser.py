"""The pages in headless Chromium (Debian's package, driven by Playwright), against the live server."""

import os
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from assets.selectors import component_in_position_at
from telemetry.rollups import refresh_all_rollups
from tests.conftest import ARTIFACTS
from tests.factories import CaseFactory, UserFactory, build_site
from tests.web.conftest import add_mppt, add_readings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
# The sync Playwright API runs an event loop in this thread; Django's ORM calls from the test body are safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct horse battery staple"


@pytest.fixture
def page(browser):
    # Playwright's wait_for_function evaluates text in the page, which the Content Security Policy refuses;
    # these tests bypass it (tests/reliability/test_security_browser.py walks the pages under it).
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def screenshot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}{reverse('login')}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")


def test_login_with_a_wrong_password_then_the_right_one(page, live_server):
    UserFactory(username="mgr", groups=["Manager"])
    page.goto(f"{live_server.url}/fleet/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill("mgr")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Please enter a correct username and password")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/fleet/")
    expect(page.get_by_role("heading", name="Fleet", exact=True)).to_be_visible()


def test_site_page_draws_its_charts_and_heatmap(page, live_server):
    UserFactory(username="mgr", groups=["Manager"])
    site = build_site(cabinets=2, docks=6, name="Chiang Mai North")
    add_readings(site, minutes=60, step_seconds=30, weak_cell=4, open_cells=[9], fet_open=[1])
    add_mppt(site, minutes=60)
    log_in(page, live_server, "mgr")
    page.get_by_role("link", name="Chiang Mai North").click()
    page.wait_for_function(
        "window.pmsCharts && window.pmsCharts['chart-volts'] && "
        "window.pmsCharts['chart-volts'].getOption().series.length === 3"
    )
    page.get_by_text("1h", exact=True).click()
    page.wait_for_function("document.getElementById('chart-source').textContent.includes('raw readings')")
    for chart_id in ["cell-heatmap", "chart-volts", "chart-amps", "chart-temps", "chart-mppt"]:
        box = page.locator(f"#{chart_id} canvas").first.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, chart_id
    points = page.evaluate("window.pmsCharts['chart-volts'].getOption().series[1].data.length")
    assert 100 <= points <= 1000
    closed, open_cells = page.evaluate(
        "window.pmsCharts['cell-heatmap'].getOption().series.map(function (s) { return s.data.length; })"
    )
    assert (closed, open_cells) == (12 * 13, 12)
    mppt_series = page.evaluate("window.pmsCharts['chart-mppt'].getOption().series.length")
    assert mppt_series == 4
    assert page.locator(".dock.state-ok").count() == 12
    screenshot(page, "site-page")
    page.locator("#cell-heatmap").screenshot(path=str(ARTIFACTS / "web-heatmap.png"))


def test_case_page_draws_each_cell_over_the_whole_range(page, live_server):
    UserFactory(username="mgr", groups=["Manager"])
    site = build_site(cabinets=1, docks=4)
    now = timezone.now()
    add_readings(site, minutes=3 * 24 * 60, step_seconds=900, end=now, weak_cell=4)
    refresh_all_rollups(start=now - timedelta(days=4), end=now + timedelta(minutes=1))
    log_in(page, live_server, "mgr")
    page.goto(f"{live_server.url}{reverse('web:case', args=[site.test_cases[(1, 2)].serial])}")
    page.get_by_text("7d", exact=True).click()
    page.wait_for_function("document.getElementById('chart-source').textContent.includes('1-minute rollups')")

    series = page.evaluate(
        "window.pmsCharts['chart-cells'].getOption().series.map(function (s) { return s.data; })"
    )
    assert len(series) == 14
    first_ms, first_volts = series[3][0]
    assert first_ms < (now - timedelta(days=2)).timestamp() * 1000 and first_volts == pytest.approx(3.75)
    screenshot(page, "case-cells")


def test_swap_through_the_form_then_seen_in_the_case_timeline(page, live_server):
    UserFactory(username="eng", groups=["Field engineer", "Manager"])
    site = build_site(cabinets=1, docks=4, name="Lamphun")
    old_case = site.test_cases[(1, 2)]
    CaseFactory(serial="0555")
    log_in(page, live_server, "eng")
    page.goto(f"{live_server.url}{reverse('web:field-home')}")
    page.get_by_role("link", name="Lamphun").click()
    page.locator("[data-pms-dock='2']").click()
    page.get_by_role("link", name="Swap").click()
    page.get_by_label("New case's Case id").fill("0555")
    page.get_by_label("Reason").fill("Cell 4 weak")
    page.get_by_label("Status of the case taken out").select_option("faulty")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Case 0555 lacks 14 of 14 cell blocks")).to_be_visible()
    page.get_by_label("Install incomplete case").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Check and confirm")).to_be_visible()
    screenshot(page, "swap-confirm")
    page.get_by_role("button", name="Confirm swap").click()
    expect(page.get_by_role("heading", name="Done")).to_be_visible()
    expect(page.get_by_text(f"Case {old_case.serial}, now faulty")).to_be_visible()
    screenshot(page, "swap-result")
    page.get_by_role("link", name="History of case 0555").click()
    entry = page.locator(".timeline li").first
    expect(entry).to_contain_text("Installed at PMS-")
    expect(entry).to_contain_text("Cell 4 weak")
    assert component_in_position_at(position=site.test_docks[(1, 2)]).serial == "0555"
    screenshot(page, "case-timeline")


def test_wrong_case_id_shows_its_error_beside_the_field(page, live_server):
    UserFactory(username="eng", groups=["Field engineer"])
    site = build_site(cabinets=1, docks=4)
    log_in(page, live_server, "eng")
    dock = site.test_docks[(1, 1)]
    page.goto(f"{live_server.url}{reverse('web:field-change', args=[dock.pk, 'replace'])}")
    page.get_by_label("Case id").fill("9X9X")
    page.get_by_label("Status of the case taken out").select_option("in_stock")
    page.get_by_label("Reason").fill("Routine")
    page.get_by_role("button", name="Continue").click()
    field = page.get_by_label("Case id")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value("9X9X")
    expect(page.locator(".has-error .errorlist")).to_contain_text("There is no case with Case id '9X9X'")
    assert page.get_by_label("Reason").input_value() == "Routine"
    screenshot(page, "wrong-case-id")


def test_pages_fit_a_phone_screen(browser, live_server):
    UserFactory(username="eng", groups=["Field engineer", "Manager"])
    site = build_site(cabinets=2, docks=12, name="Phone Site")
    add_readings(site, minutes=10, step_seconds=60)
    context = browser.new_context(
        viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    log_in(page, live_server, "eng")
    pages = {
        "phone-field-site": reverse("web:field-site", args=[site.pk]),
        "phone-swap-form": reverse("web:field-change", args=[site.test_docks[(1, 1)].pk, "replace"]),
        "phone-site-page": reverse("web:site", args=[site.pk]),
        "phone-fleet": reverse("web:fleet"),
    }
    for name, path in pages.items():
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{name} is {width}px wide"
        screenshot(page, name)
    page.goto(f"{live_server.url}{pages['phone-swap-form']}")
    for name in ["Continue", "Cancel"]:
        assert (
            page.get_by_role("button" if name == "Continue" else "link", name=name).bounding_box()["height"]
            >= 44
        )
    context.close()
