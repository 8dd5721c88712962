"""Each role's walk through its pages in headless Chromium, at 1366 px and at 375 px (a phone).

Every step is screenshotted into var/test-artifacts/walk-ROLE-WIDTH-NN-STEP.png. A walk fails on any console
error (the Content Security Policy is on: a refused script or style is one), any request that leaves this
machine, and any page wider than a 375 px screen.
"""

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from assets.models import Installation, Status
from assets.selectors import component_in_position_at
from assets.services import case_assemble, component_remove
from stock.models import StockLocation
from tests.conftest import ARTIFACTS, is_local
from tests.factories import AcqBoardFactory, CaseFactory, UserFactory, case_parts
from tests.web.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PHONE = 375
# Whether the chart at a selector draws its "No data in this range" title, not data (static/js/charts.js).
CHART_IS_EMPTY = (
    "selector => echarts.getInstanceByDom(document.querySelector(selector)).getOption().title[0].show"
)


@dataclass
class Walk:
    """One role's browser session: ``step`` checks the page now shown and screenshots it."""

    page: Page
    live_server: object
    name: str
    width: int
    problems: list = field(default_factory=list)
    steps: int = 0

    def log_in(self, username):
        log_in(self.page, self.live_server, username)

    def goto(self, path):
        self.page.goto(f"{self.live_server.url}{path}")

    def step(self, name):
        self.page.wait_for_load_state("networkidle")
        self.steps += 1
        path = ARTIFACTS / f"walk-{self.name}-{self.width}-{self.steps:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        if self.width == PHONE:
            width = self.page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE:
                self.problems.append(f"{name} ({self.page.url}) scrolls sideways: {width} px wide")

    def nav(self, label):
        self.page.get_by_role("navigation", name="Main").get_by_role("link", name=label).click()

    def search(self, text):
        box = self.page.get_by_role("searchbox", name="Search by id or name")
        box.fill(text)
        box.press("Enter")


@pytest.fixture(params=[1366, PHONE], ids=["1366px", "375px"])
def width(request):
    return request.param


@pytest.fixture
def walk(request, browser, live_server, width):
    """A browser context at ``width`` that records console errors and requests leaving this machine."""
    phone = width == PHONE
    context = browser.new_context(
        viewport={"width": width, "height": 800 if phone else 900}, is_mobile=phone, has_touch=phone
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    session = Walk(
        page=page, live_server=live_server, name=request.node.originalname.split("_")[1], width=width
    )
    page.on(
        "console",
        lambda message: (
            session.problems.append(f"console error on {page.url}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: session.problems.append(f"script error on {page.url}: {error}"))
    context.on(
        "request",
        lambda request: None if is_local(request.url) else session.problems.append(f"left: {request.url}"),
    )
    yield session
    context.close()
    assert session.problems == [], "\n".join(session.problems)


def test_manager_walks_fleet_site_case_alarms_discrepancies_api_docs_and_search(walk, world):
    site, case = world["site"], world["case"]
    walk.log_in("mgr")
    expect(walk.page.get_by_role("heading", name="Fleet", exact=True)).to_be_visible()
    walk.step("fleet")

    walk.page.get_by_role("link", name=site.name).click()
    expect(walk.page.get_by_role("heading", name=site.name)).to_be_visible()
    expect(walk.page.locator("#chart-volts canvas").first).to_be_visible()
    expect(walk.page.locator("#chart-source")).to_contain_text("one point per")
    expect(walk.page.locator("#data-start")).to_contain_text("Readings from")
    walk.step("site")
    walk.page.get_by_text("7d", exact=True).click()  # a week, of which the site has half an hour
    expect(walk.page.locator("#chart-source")).to_contain_text("No data before")
    # The chart draws the week's rollups, not its "No data in this range" title.
    assert walk.page.evaluate(CHART_IS_EMPTY, "#chart-volts") is False
    walk.page.locator("#charts").scroll_into_view_if_needed()
    walk.step("site-7d")

    walk.search(case.serial)  # an exact Case id opens the case
    expect(walk.page.get_by_role("heading", name=f"Case {case.serial}")).to_be_visible()
    expect(walk.page.locator("#chart-cells canvas").first).to_be_visible()
    walk.step("case")

    walk.search("PMS-31")  # part of an id lists what it finds
    expect(walk.page.get_by_role("heading", name="Search", exact=True)).to_be_visible()
    expect(walk.page.get_by_role("heading", name="Sites")).to_be_visible()
    expect(walk.page.get_by_role("link", name=site.name)).to_be_visible()
    walk.step("search")

    walk.nav("Alarms")
    expect(walk.page.get_by_role("heading", name="Alarms", exact=True)).to_be_visible()
    walk.step("alarms")

    walk.nav("Discrepancies")
    expect(walk.page.get_by_role("heading", name="Open discrepancies")).to_be_visible()
    walk.step("discrepancies")

    walk.goto("/api/docs/")
    expect(walk.page.locator(".opblock").first).to_be_visible()
    walk.step("api-docs")


def change_and_confirm(walk, *, serial=None, reason="Walk test", removed_status=None, at=None):
    """Fill a field change form and go on to confirm it, when the review lets the change through."""
    page = walk.page
    if serial is not None:
        page.get_by_role("textbox", name=re.compile("case id|serial", re.IGNORECASE)).fill(serial)
    if removed_status is not None:  # a list, or a choice of radio buttons
        choices = page.get_by_label(re.compile("status", re.IGNORECASE))
        if choices.count() == 1 and choices.evaluate("element => element.tagName") == "SELECT":
            choices.select_option(removed_status)
        else:
            page.get_by_role(
                "radio", name=re.compile(removed_status.replace("_", " "), re.IGNORECASE)
            ).check()
    page.get_by_label("Reason").fill(reason)
    page.get_by_label(re.compile("^When")).fill(at or "")
    page.get_by_role("button", name=re.compile("^(Continue|Review|Check)")).click()
    page.wait_for_load_state("networkidle")
    confirm = page.get_by_role("button", name=re.compile("^Confirm"))
    if confirm.count():
        confirm.click()
        page.wait_for_load_state("networkidle")


def expect_refused(walk, message, name):
    """The change was not made, and the engineer reads why."""
    expect(walk.page.get_by_role("heading", name="Done")).to_have_count(0)
    expect(walk.page.locator(".errorlist, .form-errors").first).to_contain_text(message)
    walk.step(name)


@pytest.fixture
def field_world(world):
    """The walk's site with dock 4 emptied, and the stock and faulty parts the engineer types in."""
    site = world["site"]
    component_remove(component=site.test_cases[(1, 4)], user=None, reason="Emptied for the walk")
    case_assemble(case=CaseFactory(serial="0901"), user=None, **case_parts())
    case_assemble(case=CaseFactory(serial="0902"), user=None, **case_parts())
    CaseFactory(serial="0904")  # received, never assembled
    CaseFactory(serial="0903", status=Status.FAULTY)
    AcqBoardFactory(serial="A-9001")
    return world


def test_field_engineer_walks_install_swap_board_and_wrong_inputs(walk, field_world):
    site = field_world["site"]
    page = walk.page
    walk.log_in("eng")
    expect(page.get_by_role("heading", name="Field work")).to_be_visible()
    walk.step("home")
    page.get_by_role("link", name=site.name).click()
    walk.step("site")

    page.locator("[data-pms-dock='4']").click()
    page.get_by_role("link", name="Install").click()
    walk.step("install-form")
    change_and_confirm(walk, serial="9X9X")
    expect_refused(walk, "There is no case with Case id '9X9X'", "error-unknown-case")
    change_and_confirm(walk, serial=site.test_cases[(1, 1)].serial)
    expect_refused(walk, "remove it first", "error-installed-elsewhere")
    change_and_confirm(walk, serial="0903")
    expect_refused(walk, "only components in stock can be installed", "error-faulty-case")
    change_and_confirm(walk, serial="0904")
    expect_refused(walk, "lacks 14 of 14 cell blocks", "error-incomplete-case")
    tomorrow = timezone.localtime(timezone.now() + timedelta(days=1), timezone=ZoneInfo(site.time_zone))
    change_and_confirm(walk, serial="0901", at=tomorrow.strftime("%Y-%m-%dT%H:%M"))
    expect_refused(walk, "cannot be in the future", "error-future-time")
    change_and_confirm(walk, serial="0901")
    expect(page.get_by_role("heading", name="Done")).to_be_visible()
    walk.step("install-done")
    assert component_in_position_at(position=site.test_docks[(1, 4)]).serial == "0901"

    walk.goto(reverse("web:field-position", args=[site.test_docks[(1, 2)].pk]))
    page.get_by_role("link", name="Swap", exact=True).first.click()
    walk.step("swap-form")
    change_and_confirm(walk, serial="0902", removed_status="faulty", reason="Cell 4 weak")
    expect(page.get_by_role("heading", name="Done")).to_be_visible()
    walk.step("swap-done")
    swapped_out = site.test_cases[(1, 2)]
    swapped_out.refresh_from_db()
    assert swapped_out.status == Status.FAULTY

    walk.goto(reverse("web:field-position", args=[site.test_docks[(1, 2)].pk]))
    board_row = page.locator(".parts li", has_text="Acquisition board").first
    board_row.get_by_role("link", name="Swap", exact=True).click()
    walk.step("board-form")
    change_and_confirm(walk, serial="A-9001", removed_status="faulty", reason="Board fault")
    expect(page.get_by_role("heading", name="Done")).to_be_visible()
    walk.step("board-done")
    board = Installation.objects.get(component__serial="A-9001", removed_at__isnull=True)
    assert board.position.parent.serial == "0902"


def test_warehouse_walks_home_receive_and_assemble(walk):
    UserFactory(username="wh", is_staff=True, groups=["Warehouse"])
    StockLocation.objects.create(kind=StockLocation.Kind.WAREHOUSE, name="Bangkok WH")
    parts = case_parts()
    page = walk.page
    walk.log_in("wh")
    stock_card = page.locator("section.card", has=page.get_by_role("heading", name="Stock", exact=True))
    stock = stock_card.locator(".table-wrap")
    expect(stock.get_by_role("columnheader", name="In repair")).to_be_visible()
    # The whole table in its card, at 1366 px and on a phone: no scrolling within it.
    assert stock.evaluate("wrap => wrap.scrollWidth <= wrap.clientWidth")
    walk.step("home")

    walk.goto(reverse("admin:assets_component_receive"))
    page.get_by_role("link", name="Case", exact=True).click()
    page.get_by_label("Serials").fill("0960\n0961")
    walk.step("receive-form")
    page.get_by_role("button", name="Receive").click()
    expect(page.get_by_text(re.compile("Received 2"))).to_be_visible()
    walk.step("received")

    walk.goto(reverse("admin:assets_case_assemble"))
    page.get_by_label("Case id").fill("0960")
    page.get_by_label("Cell blocks").fill("\n".join(block.serial for block in parts["cell_blocks"]))
    page.get_by_label("Acquisition board").fill(parts["acq_board"].serial)
    page.get_by_label("FET board").fill(parts["fet_board"].serial)
    walk.step("assemble-form")
    page.get_by_role("button", name="Assemble").click()
    expect(page.get_by_text("Case 0960 assembled")).to_be_visible()
    walk.step("assembled")
    walk.search("0960")  # the admin's header has the search box too
    expect(page.get_by_role("heading", name="Case 0960")).to_be_visible()
    walk.step("case-found")
    board = Installation.objects.get(component=parts["acq_board"], removed_at__isnull=True)
    assert board.position.parent.serial == "0960"
