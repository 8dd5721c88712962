"""Procurement in headless Chromium: a purchase order from draft through two partial receipts to received,
and a repair round trip."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from assets.models import Component, Kind, Status
from stock.models import PurchaseOrder
from tests.conftest import ARTIFACTS
from tests.factories import CaseFactory, SupplierFactory, UserFactory, main_warehouse
from tests.web.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")



@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    errors = []
    page.on("response", lambda response: response.status >= 400 and errors.append(response.url))
    yield page
    context.close()
    assert errors == [], f"Failed requests: {errors}"


def submit(page, label):
    page.get_by_role("button", name=label).click()
    page.wait_for_load_state("networkidle")


def test_a_purchase_order_from_draft_through_two_partial_receipts_to_received(page, live_server):
    UserFactory(username="wanda", is_staff=True, groups=["Warehouse"])
    SupplierFactory(name="Volt Traders")
    main_warehouse()
    log_in(page, live_server, "wanda")
    expect(page.get_by_role("heading", name="Warehouse")).to_be_visible()
    page.get_by_role("link", name="Purchase orders").click()
    page.get_by_role("link", name="Add purchase order").click()
    page.get_by_label("Supplier").select_option(label="Volt Traders")
    page.get_by_label("Reference").fill("PO-2026-014")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.get_by_text("No lines yet.")).to_be_visible()

    page.get_by_role("link", name="Add a line").click()
    page.get_by_label("Kind").select_option(label="Case")
    page.get_by_label("Model / part number").fill("LFP-48")
    page.get_by_label("Quantity").fill("4")
    page.get_by_label("Unit cost").fill("812.50")
    page.get_by_label("Warranty months").fill("24")
    submit(page, "Add line")
    expect(page.get_by_text("Line 1 added.")).to_be_visible()
    page.get_by_role("link", name="Place the order").click()
    submit(page, "Place order")
    expect(page.get_by_text("PO-2026-014 placed.")).to_be_visible()

    page.get_by_role("link", name="Receive", exact=True).click()
    page.get_by_label("Serials").fill("C-1001\nC-1002\nC-1003\nC-1004\nC-1005")
    submit(page, "Receive")
    expect(page.get_by_text("has 4 of 4 outstanding; 5 is 1 too many")).to_be_visible()
    page.get_by_label("Serials").fill("C-1001\nC-1002")
    submit(page, "Receive")
    expect(page.get_by_text("Received 2 cases on line 1.")).to_be_visible()
    assert PurchaseOrder.objects.get().status == PurchaseOrder.Status.PARTLY_RECEIVED

    page.get_by_role("link", name="Receive", exact=True).click()
    expect(page.get_by_text("ordered 4, received 2, outstanding 2")).to_be_visible()
    page.get_by_label("Serials").fill("C-1003\nC-1004")
    submit(page, "Receive")
    expect(page.get_by_text("Received 2 cases on line 1.")).to_be_visible()
    cells = page.locator(".po-lines tbody tr").first.locator("td")
    assert [cells.nth(n).inner_text() for n in (5, 6, 7)] == ["4", "4", "0"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "stock-purchase-order-received.png"), full_page=True)
    order = PurchaseOrder.objects.get()
    assert order.status == PurchaseOrder.Status.RECEIVED
    assert Component.objects.filter(kind=Kind.CASE, purchase_order="PO-2026-014").count() == 4
    assert order.history.count() >= 4


def test_a_repair_round_trip_in_the_admin(page, live_server):
    UserFactory(username="wanda", is_staff=True, groups=["Warehouse"])
    SupplierFactory(name="Volt Traders")
    main_warehouse()
    CaseFactory(serial="C-2001", status=Status.FAULTY, warranty_end=timezone.localdate() + timedelta(days=90))
    log_in(page, live_server, "wanda")
    page.goto(f"{live_server.url}/admin/stock/repair/add/")
    warranty_end = timezone.localdate() + timedelta(days=90)
    page.get_by_label("Component").select_option(
        label=f"Case C-2001 (under warranty until {warranty_end:%Y-%m-%d})"
    )
    page.get_by_label("Supplier").select_option(label="Volt Traders")
    page.get_by_label("RMA number").fill("RMA-55")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Case C-2001 sent to Volt Traders. Under warranty until")).to_be_visible()
    page.get_by_role("link", name="Case C-2001", exact=True).click()

    page.get_by_role("link", name="Record the return").click()
    page.get_by_label("Replaced by a new serial").check()
    page.get_by_label("Replacement serial").fill("C-2002")
    submit(page, "Save")
    expect(
        page.get_by_text("Case C-2001 back from repair: replaced by a new serial by C-2002; 0 days away.")
    ).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "stock-repair-returned.png"), full_page=True)

    page.goto(f"{live_server.url}/cases/C-2002/")
    expect(page.locator(".timeline strong", has_text="Replaces C-2001")).to_be_visible()
    assert Component.objects.get(serial="C-2001").status == Status.RETIRED
