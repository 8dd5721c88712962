"""The Scan button of the field forms (static/js/scan.js) in headless Chromium, whose fake camera films a QR
code made by segno. Debian's Chromium has no BarcodeDetector, so these scans go through the vendored jsQR."""

import os

import pytest
import segno
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from assets.selectors import component_in_position_at
from assets.services import case_assemble, component_remove
from tests.conftest import ARTIFACTS, CHROMIUM_ARGS, is_local
from tests.factories import CaseFactory, UserFactory, build_site, case_parts
from tests.web.test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PHONE = 375
FRAME_WIDTH, FRAME_HEIGHT = 640, 480


def write_qr_video(path, text):
    """A one-frame Y4M video (Chromium loops it) of ``text``'s QR code, black on white, in the middle;
    a blank one without ``text``."""
    matrix = [list(row) for row in segno.make_qr(text, error="m").matrix_iter(border=4)] if text else [[0]]
    scale = min(FRAME_WIDTH, FRAME_HEIGHT) * 3 // 4 // len(matrix)
    left = (FRAME_WIDTH - len(matrix) * scale) // 2
    top = (FRAME_HEIGHT - len(matrix) * scale) // 2
    luma = bytearray(b"\xeb" * FRAME_WIDTH * FRAME_HEIGHT)
    for y in range(len(matrix) * scale):
        for x in range(len(matrix) * scale):
            if matrix[y // scale][x // scale]:
                luma[(top + y) * FRAME_WIDTH + left + x] = 0x10
    chroma = b"\x80" * (FRAME_WIDTH // 2 * FRAME_HEIGHT // 2)
    path.write_bytes(
        f"YUV4MPEG2 W{FRAME_WIDTH} H{FRAME_HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode()
        + b"FRAME\n"
        + bytes(luma)
        + chroma
        + chroma
    )


@pytest.fixture(scope="module")
def playwright():
    # Module-wide, as tests/conftest.py's browser: entered within a test, Playwright's greenlets would give
    # the test body a database connection of its own, left open.
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def phone_filming(playwright, tmp_path):
    """Opens a phone-sized page whose camera films a QR code of the given text; fails on any console error
    or request leaving this machine."""
    problems = []
    browsers = []

    def open_page(text, camera_api=True):
        video = tmp_path / f"qr-{len(browsers)}.y4m"
        write_qr_video(video, text)
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        browsers.append(browser)
        context = browser.new_context(
            viewport={"width": PHONE, "height": 800},
            is_mobile=True,
            has_touch=True,
            permissions=["camera"],
        )
        if not camera_api:
            context.add_init_script(
                "Object.defineProperty(Navigator.prototype, 'mediaDevices', {get: () => undefined});"
            )
        context.on("request", lambda request: None if is_local(request.url) else problems.append(request.url))
        page = context.new_page()
        page.set_default_timeout(15000)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        return page

    yield open_page
    for browser in browsers:
        browser.close()
    assert problems == []


def screenshot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"scan-{name}.png"), full_page=True)


def test_scanning_a_case_label_fills_the_case_id_and_the_install_goes_through(phone_filming, live_server):
    UserFactory(username="eng", groups=["Field engineer"])
    site = build_site(cabinets=1, docks=4)
    dock = site.test_docks[(1, 2)]
    component_remove(component=site.test_cases[(1, 2)], user=None, reason="Emptied for the test")
    case_assemble(case=CaseFactory(serial="C 0901"), user=None, **case_parts())
    # What the case's QR label encodes (stock/labels.py): its page's address on this site.
    page = phone_filming(f"{live_server.url}{reverse('web:case', args=['C 0901'])}")
    log_in(page, live_server, "eng")
    page.goto(f"{live_server.url}{reverse('web:field-change', args=[dock.pk, 'install'])}")

    page.get_by_role("button", name="Scan").click()
    field = page.get_by_label("Case id")
    expect(field).to_have_value("C 0901")
    expect(page.locator(".scan-status")).to_have_text("Scanned C 0901.")
    expect(page.get_by_label("Camera preview")).to_be_hidden()
    screenshot(page, "install-scanned")

    page.get_by_label("Reason").fill("New case")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Confirm install").click()
    expect(page.get_by_role("heading", name="Done")).to_be_visible()
    assert component_in_position_at(position=dock).serial == "C 0901"


def test_the_camera_preview_fits_a_phone_and_scanning_can_be_stopped(phone_filming, live_server):
    UserFactory(username="eng", groups=["Field engineer"])
    page = phone_filming(None)
    log_in(page, live_server, "eng")
    page.goto(f"{live_server.url}{reverse('web:field-home')}")
    page.get_by_role("button", name="Scan").click()
    preview = page.get_by_label("Camera preview")
    expect(preview).to_be_visible()
    screenshot(page, "preview")
    assert preview.bounding_box()["width"] <= PHONE
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
    page.get_by_role("button", name="Stop scanning").click()
    expect(preview).to_be_hidden()
    expect(page.get_by_role("button", name="Scan")).to_be_enabled()


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("0902", "0902"),
        ("https://elsewhere.example/cases/0902/", "https://elsewhere.example/cases/0902/"),
    ],
    ids=["plain-text", "other-site-url"],
)
def test_plain_text_and_other_sites_addresses_are_taken_as_they_are(phone_filming, live_server, label, shown):
    UserFactory(username="eng", groups=["Field engineer"])
    case = CaseFactory(serial="0902")
    page = phone_filming(label)
    log_in(page, live_server, "eng")
    page.goto(f"{live_server.url}{reverse('web:field-home')}")
    page.get_by_role("button", name="Scan").click()
    expect(page.get_by_label("Case id")).to_have_value(shown)
    page.get_by_role("button", name="Find").click()
    if label == shown == case.serial:
        expect(page).to_have_url(f"{live_server.url}{reverse('web:field-component', args=[case.pk])}")
    else:
        expect(page.locator(".field-error")).to_contain_text(f"There is no case with Case id {shown!r}")


def test_without_a_camera_api_there_is_no_scan_button_and_typing_works(phone_filming, live_server):
    UserFactory(username="eng", groups=["Field engineer"])
    case = CaseFactory(serial="0903")
    page = phone_filming("0903", camera_api=False)
    log_in(page, live_server, "eng")
    page.goto(f"{live_server.url}{reverse('web:field-home')}")
    expect(page.get_by_role("button", name="Find")).to_be_visible()
    expect(page.get_by_role("button", name="Scan")).to_have_count(0)
    page.get_by_label("Case id").fill("0903")
    page.get_by_role("button", name="Find").click()
    expect(page).to_have_url(f"{live_server.url}{reverse('web:field-component', args=[case.pk])}")
