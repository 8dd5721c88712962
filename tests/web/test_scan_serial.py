"""What a scanner types into a serial box: a QR label's address names its component (web/scan.py)."""

import pytest
from django.urls import reverse

from assets.models import Kind
from assets.selectors import component_in_position_at
from assets.services import child_position_get
from tests.factories import AcqBoardFactory
from tests.web.conftest import client_for
from web.scan import serial_from_scan


def admin_url(component_pk):
    return f"http://127.0.0.1:8000{reverse('admin:assets_component_change', args=[component_pk])}"


@pytest.mark.parametrize(
    ("scanned", "serial"),
    [
        ("0901", "0901"),
        ("http://localhost/cases/C%200901/", "C 0901"),
        ("https://127.0.0.1:8443/cases/0901/", "0901"),
        ("https://elsewhere.example/cases/0901/", "https://elsewhere.example/cases/0901/"),
        ("http://localhost/fleet/", "http://localhost/fleet/"),
        ("http://localhost/cases/%00/", "http://localhost/cases/%00/"),
        ("ftp://localhost/cases/0901/", "ftp://localhost/cases/0901/"),
        ("http://[::1", "http://[::1"),
        (
            "http://localhost/admin/assets/component/x/change/",
            "http://localhost/admin/assets/component/x/change/",
        ),
    ],
)
def test_an_address_of_a_case_page_here_gives_its_case_id_and_other_text_is_kept(db, scanned, serial):
    assert serial_from_scan(scanned) == serial


def test_a_component_admin_address_gives_the_components_serial(db):
    board = AcqBoardFactory(serial="A-7001")
    assert serial_from_scan(admin_url(board.pk)) == "A-7001"
    assert serial_from_scan(admin_url(board.pk + 1000)) == admin_url(board.pk + 1000)


def test_a_scanned_board_label_installs_that_board(client, users, site):
    engineer = client_for(client, users["field"])
    case = site.test_cases[(1, 1)]
    slot = child_position_get(parent=case, kind=Kind.ACQ_BOARD)
    board = AcqBoardFactory(serial="A-7002")
    data = {"serial": admin_url(board.pk), "reason": "Assembly", "step": "confirm"}
    response = engineer.post(reverse("web:field-change", args=[slot.pk, "install"]), data)
    assert response.status_code == 302
    assert component_in_position_at(position=slot) == board


def test_find_a_case_by_its_scanned_label(client, users, site):
    engineer = client_for(client, users["field"])
    label = f"http://localhost{reverse('web:case', args=[site.test_cases[(1, 2)].serial])}"
    response = engineer.get(reverse("web:field-find-case"), {"case": label}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("web:field-position", args=[site.test_docks[(1, 2)].pk])
