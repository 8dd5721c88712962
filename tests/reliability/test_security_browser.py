"""The Content Security Policy in a real browser: every main page works under it, with no violation."""

import os

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, is_local
from tests.factories import UserFactory
from tests.web.test_browser import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Reports each violation on the console; Playwright's init scripts are not subject to the page's policy.
REPORT_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', function (event) {
  console.error('CSP violation: ' + event.violatedDirective + ' blocked ' + event.blockedURI);
});
"""


def manager_pages(world):
    site, case = world["site"], world["case"]
    return {
        "fleet": "/fleet/",
        "site": f"/sites/{site.pk}/",
        "case": f"/cases/{case.serial}/",
        "alarms": "/alarms/",
        "discrepancies": "/discrepancies/",
        "admin": "/admin/",
        "admin-changelist": "/admin/assets/component/",
        "admin-case": f"/admin/assets/case/{case.pk}/change/",
        "admin-history": f"/admin/assets/case/{case.pk}/history/",
        "api-docs": "/api/docs/",
        "api-redoc": "/api/redoc/",
        "api-schema": "/api/schema/?format=json",
        "api": "/api/v1/sites/",
    }


def field_pages(world):
    site, dock = world["site"], world["dock"]
    return {
        "field": "/field/",
        "field-site": f"/field/sites/{site.pk}/",
        "field-position": f"/field/positions/{dock.pk}/",
        "field-swap-form": f"/field/positions/{dock.pk}/replace/",
        "alarms": "/alarms/",
        "discrepancies": "/discrepancies/",
    }


@pytest.mark.parametrize("width", [1366, 375])
@pytest.mark.parametrize(("username", "pages"), [("mgr", manager_pages), ("eng", field_pages)])
def test_main_pages_work_under_the_policy_without_a_violation(
    browser, live_server, world, username, pages, width
):
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15000)
    violations, outside = [], []
    page.on("request", lambda request: outside.append(request.url) if not is_local(request.url) else None)
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text}")
            if "Refused to" in message.text or "CSP violation" in message.text
            else None
        ),
    )

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")
    for name, path in pages(world).items():
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, f"{path}: {response.status}"
        page.wait_for_load_state("networkidle")
        if name == "site":
            expect(page.locator("#chart-volts canvas").first).to_be_visible()
        if name == "api-docs":  # Swagger UI, vendored, draws the operations
            expect(page.locator(".opblock").first).to_be_visible()
        if name == "api-redoc":  # ReDoc, vendored, draws the operations
            expect(page.locator("[data-section-id^='operation/']").first).to_be_visible()
        # The schema is one long JSON text: its first screen is enough.
        full_page = name != "api-schema"
        page.screenshot(path=str(ARTIFACTS / f"csp-{username}-{name}-{width}.png"), full_page=full_page)
    context.close()
    assert outside == [], f"requests that left this site: {outside}"

    assert violations == [], "\n".join(violations)


def test_the_lockout_page_explains_itself_under_the_policy(browser, live_server):
    UserFactory(username="mgr", groups=["Manager"])
    context = browser.new_context(viewport={"width": 375, "height": 740})
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "CSP" in message.text else None)

    page.goto(f"{live_server.url}/accounts/login/")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        page.get_by_label("Username").fill("mgr")
        page.get_by_label("Password").fill(f"wrong {attempt}")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state("networkidle")

    expect(page.get_by_role("heading", name="Too many failed log-ins")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "csp-lockout-375.png"), full_page=True)
    page.get_by_role("link", name="Back to the log-in page").click()
    page.get_by_label("Username").fill("mgr")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Too many failed log-ins")).to_be_visible()
    context.close()
    assert violations == []
