"""The warehouse home: stock by kind and status, recent receipts, cases waiting for assembly, links."""

import pytest

from assets import services
from assets.models import Kind, Status
from stock import services as stock_services
from tests.factories import (
    CaseFactory,
    ComponentFactory,
    UserFactory,
    case_parts,
    main_warehouse,
    placed_order,
)

pytestmark = pytest.mark.django_db


def test_the_warehouse_home_counts_stock_and_lists_receipts_and_cases_to_assemble(client):
    client.force_login(UserFactory(username="wanda", is_staff=True, groups=["Warehouse"]))
    ComponentFactory.create_batch(3, kind=Kind.FET_BOARD)
    ComponentFactory(kind=Kind.FET_BOARD, status=Status.FAULTY)
    ComponentFactory(kind=Kind.INVERTER, status=Status.IN_REPAIR)
    ComponentFactory(kind=Kind.CABINET, status=Status.RETIRED)
    assembled, empty = CaseFactory(serial="0241"), CaseFactory(serial="0242")
    services.case_assemble(case=assembled, user=None, **case_parts())
    order = placed_order(lines=[{"kind": Kind.MPPT, "quantity": 4}], reference="PO-31")
    stock_services.purchase_order_receive(
        location=main_warehouse(), line=order.lines.get(), serials_text="M-1\nM-2", user=None
    )

    response = client.get("/")

    assert response.templates[0].name == "web/warehouse_home.html"
    counts = {row.label: row.counts for row in response.context["counts"]}
    assert counts["FET board"] == [3, 1, 0]
    assert counts["Inverter"] == [0, 0, 1]
    assert counts["Case"] == [2, 0, 0]
    assert "Cabinet" not in counts
    assert [case.serial for case in response.context["waiting_cases"]] == [empty.serial]
    newest = response.context["receipts"][0]
    assert (newest.count, newest.kind, newest.reference) == (2, "MPPT charge controller", "PO-31")
    page = response.content.decode()
    for link in [
        "/admin/assets/component/receive/",
        "/admin/assets/case/assemble/",
        "/admin/stock/purchaseorder/",
    ]:
        assert f'href="{link}"' in page
    assert f'href="/admin/stock/purchaseorder/{order.pk}/change/">PO-31</a>' in page


@pytest.mark.parametrize(("group", "lands_on"), [("Manager", "/fleet/"), ("Field engineer", "/field/")])
def test_other_roles_land_on_their_own_pages(client, group, lands_on):
    client.force_login(UserFactory(username="someone", groups=[group]))

    assert client.get("/").url == lands_on
