"""QR labels: SVG sheets (A4 and label printer) for components and for a site's docks, QR codes by segno."""

import pytest
import segno
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from assets.models import Kind
from stock.labels import QUIET_ZONE, SHEETS, Label, labels_svg
from tests.factories import CaseFactory, ComponentFactory, UserFactory, build_site

pytestmark = pytest.mark.django_db

URL = "/admin/stock/componentimport/"


def test_components_get_a_label_each_with_the_qr_code_of_their_page(client):
    client.force_login(UserFactory(username="wanda", is_staff=True, groups=["Warehouse"]))
    case, board = CaseFactory(serial="C-42"), ComponentFactory(kind=Kind.FET_BOARD, serial="FB-7")

    response = client.post(URL, {"action": "labels_a4", ACTION_CHECKBOX_NAME: [case.pk, board.pk]})

    assert response["Content-Type"] == "image/svg+xml"
    assert response["Content-Disposition"] == 'attachment; filename="labels-a4.svg"'
    svg = response.content.decode()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm"')
    assert (
        ">C-42</text>" in svg
        and ">Case</text>" in svg
        and ">FB-7</text>" in svg
        and ">FET board</text>" in svg
    )
    qr = segno.make("http://testserver/cases/C-42/", error="m")
    dark = sum(sum(row) for row in qr.matrix_iter(border=QUIET_ZONE))
    first_label = svg.split('<g class="label">')[1]
    assert first_label.count("h1v1h-1z") == dark


def test_label_printer_pages_hold_one_label_and_a4_sheets_24():
    labels = [Label(url=f"https://pms.example/{n}", title=f"S{n}", subtitle="Case") for n in range(25)]

    a4 = labels_svg(labels=labels, sheet=SHEETS["a4"])
    printer = labels_svg(labels=labels[:3], sheet=SHEETS["label"])

    assert 'height="594mm"' in a4 and a4.count('<g class="label">') == 25
    assert 'width="62mm" height="87mm"' in printer


def test_a_site_gets_a_label_per_dock(client):
    client.force_login(UserFactory(username="eddie", is_staff=True, groups=["Field engineer"]))
    site = build_site(cabinets=2, docks=4, cases=False, pms_id="PMS-09-001")

    svg = client.get(f"{URL}dock-labels/?site={site.pk}&size=label").content.decode()

    assert svg.count('<g class="label">') == 8
    assert ">PMS-09-001 C2-D4</text>" in svg
    assert client.get(f"{URL}dock-labels/?site=x").status_code == 400
