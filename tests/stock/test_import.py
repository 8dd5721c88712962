"""Bulk import in the admin: a preview with row-numbered errors, then every row or none."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from assets.models import Component, Kind, Status
from assets.selectors import location_of_component
from stock import selectors
from tests.factories import UserFactory, build_site, main_warehouse

pytestmark = pytest.mark.django_db

URL = "/admin/stock/componentimport/"
HEADER = (
    "kind,serial,model_number,supplier,received_on,cost,warranty_end,dock_count,location,site,cabinet,dock\n"
)


@pytest.fixture
def warehouse_client(client):
    client.force_login(UserFactory(username="wanda", is_staff=True, groups=["Warehouse"]))
    return client


def upload(client, name, content):
    form = client.get(f"{URL}import/").context["form"]
    formats = dict((label, value) for value, label in form.fields["format"].choices)
    data = {"import_file": SimpleUploadedFile(name, content), "format": formats[name.rsplit(".")[-1]]}
    return client.post(f"{URL}import/", data)


def confirm(client, preview):
    form = preview.context["confirm_form"]
    return client.post(f"{URL}process_import/", {**form.initial}, follow=True)


def test_a_csv_is_previewed_then_imported_into_stock_and_onto_a_site(warehouse_client):
    site = build_site(cabinets=1, docks=4, cases=False, pms_id="PMS-05-001")
    main_warehouse()
    csv = (
        HEADER
        + "case,C-1,LFP-48,Volt,2025-01-10,800,2027-01-10,,Bangkok WH,,,\n"
        + "case,C-2,LFP-48,Volt,2025-01-10,800,2027-01-10,,,PMS-05-001,1,3\n"
        + "fet_board,FB-1,,,,,,,Bangkok WH,,,\n"
    )

    preview = upload(warehouse_client, "components.csv", csv.encode())

    assert preview.status_code == 200 and "confirm_form" in preview.context
    assert not Component.objects.filter(serial__in=["C-1", "C-2", "FB-1"]).exists()
    done = confirm(warehouse_client, preview)
    assert done.status_code == 200
    c1, c2 = Component.objects.get(serial="C-1"), Component.objects.get(serial="C-2")
    assert (c1.status, str(c1.cost), c1.supplier) == (Status.IN_STOCK, "800.00", "Volt")
    assert selectors.location_of(component=c1) == main_warehouse()
    assert str(location_of_component(component=c2)) == f"{site.pms_id} C1-D3"
    assert c2.status == Status.INSTALLED


def test_one_bad_row_imports_nothing_and_names_its_row(warehouse_client):
    build_site(cabinets=1, docks=4, cases=False, pms_id="PMS-05-001")
    main_warehouse()
    csv = (
        HEADER
        + "case,C-1,,,,,,,Bangkok WH,,,\n"
        + "case,C-2,,,,,,,,PMS-05-001,1,9\n"
        + "case,C-3,,,,,,,Nowhere,,,\n"
    )

    preview = upload(warehouse_client, "components.csv", csv.encode())

    page = preview.content.decode()
    assert "confirm_form" not in preview.context
    assert "Dock 9 does not exist: busbar" in page
    assert "There is no stock location &#x27;Nowhere&#x27;; add it first." in page
    assert [row.number for row in preview.context["result"].invalid_rows] == [2, 3]
    assert not Component.objects.filter(kind=Kind.CASE, serial__startswith="C-").exists()


def test_an_xlsx_file_imports_too(warehouse_client):
    main_warehouse()
    book = Workbook()
    sheet = book.active
    sheet.append(["kind", "serial", "location"])
    sheet.append(["inverter", "INV-1", "Bangkok WH"])
    content = io.BytesIO()
    book.save(content)

    confirm(warehouse_client, upload(warehouse_client, "components.xlsx", content.getvalue()))

    assert Component.objects.get(serial="INV-1").kind == Kind.INVERTER


def test_only_the_warehouse_imports(client):
    client.force_login(UserFactory(username="mgr", is_staff=True, groups=["Manager"]))

    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}import/").status_code == 403


def test_a_row_gone_bad_between_preview_and_confirm_rolls_the_whole_file_back(warehouse_client):
    main_warehouse()
    csv = HEADER + "case,C-1,,,,,,,Bangkok WH,,,\ncase,C-2,,,,,,,Bangkok WH,,,\n"
    preview = upload(warehouse_client, "components.csv", csv.encode())
    Component.objects.create(kind=Kind.CASE, serial="C-2")  # received meanwhile

    done = confirm(warehouse_client, preview)

    assert [str(m) for m in done.context["messages"]] == [
        "Nothing was imported. Row 2: Case C-2 already exists."
    ]
    assert list(Component.objects.filter(kind=Kind.CASE).values_list("serial", flat=True)) == ["C-2"]
