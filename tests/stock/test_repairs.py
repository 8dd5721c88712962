"""Repairs and returns: faulty, sent (supplier, RMA, date, warranty), back repaired, replaced or scrapped."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from assets.models import Component, Kind, Status
from stock import selectors, services
from stock.models import Repair
from tests.factories import CaseFactory, SupplierFactory, UserFactory, main_warehouse

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def faulty_case(serial="C-7", warranty_end=None):
    return CaseFactory(serial=serial, status=Status.FAULTY, warranty_end=warranty_end)


def test_a_repaired_case_goes_back_to_stock_and_its_timeline_shows_the_time_away(client):
    case = faulty_case(warranty_end=TODAY + timedelta(days=100))
    sent_on = TODAY - timedelta(days=12)

    repair = services.repair_send(component=case, supplier=SupplierFactory(name="Volt"), rma_number="R-1",
                                  sent_on=sent_on, user=None)  # fmt: skip

    case.refresh_from_db()
    assert (case.status, repair.under_warranty) == (Status.IN_REPAIR, True)
    services.repair_return(repair=repair, outcome="repaired", location=main_warehouse(), user=None)
    case.refresh_from_db()
    assert case.status == Status.IN_STOCK
    assert selectors.location_of(component=case) == main_warehouse()
    repair.refresh_from_db()
    assert (repair.outcome, repair.days_away) == ("repaired", 12)
    client.force_login(UserFactory(username="mgr", groups=["Manager"]))
    page = client.get(f"/cases/{case.serial}/").content.decode()
    assert "Sent for repair to Volt, RMA R-1" in page
    assert f"Under warranty until {case.warranty_end:%Y-%m-%d}" in page
    assert "Back from repair: repaired, back to stock" in page and "12 days away at Volt" in page


def test_a_replaced_case_is_retired_and_linked_to_its_new_serial(client):
    case = faulty_case(warranty_end=TODAY - timedelta(days=1))
    repair = services.repair_send(component=case, supplier=SupplierFactory(name="Volt"), user=None)
    assert repair.under_warranty is False

    with pytest.raises(ValidationError, match="Give the serial of the replacement"):
        services.repair_return(repair=repair, outcome="replaced", location=main_warehouse(), user=None)
    services.repair_return(
        repair=repair, outcome="replaced", replacement_serial="C-8", location=main_warehouse(), user=None
    )

    new = Component.objects.get(kind=Kind.CASE, serial="C-8")
    case.refresh_from_db()
    assert (case.status, new.status, new.replaces.component) == (Status.RETIRED, Status.IN_STOCK, case)
    assert (new.warranty_end, new.supplier) == (case.warranty_end, "Volt")
    client.force_login(UserFactory(username="mgr", groups=["Manager"]))
    assert "Replaced by C-8" in client.get("/cases/C-7/").content.decode()
    assert "Replaces C-7" in client.get("/cases/C-8/").content.decode()


def test_only_faulty_components_are_sent_and_a_repair_closes_once():
    with pytest.raises(ValidationError, match="Case C-1 is in stock; only a faulty component is sent"):
        services.repair_send(component=CaseFactory(serial="C-1"), supplier=SupplierFactory(), user=None)
    repair = services.repair_send(component=faulty_case(), supplier=SupplierFactory(), user=None)
    with pytest.raises(ValidationError, match="Choose where the component goes"):
        services.repair_return(repair=repair, outcome="repaired", user=None)

    services.repair_return(repair=repair, outcome="scrapped", user=None)

    assert repair.component.__class__.objects.get(pk=repair.component.pk).status == Status.RETIRED
    with pytest.raises(ValidationError, match="This repair was closed on"):
        services.repair_return(repair=repair, outcome="scrapped", user=None)
    assert services.warranty_text(component=CaseFactory(), on=date(2026, 1, 1)) == "No warranty recorded"


def test_the_warehouse_sends_and_records_a_return_in_the_admin_and_others_only_read(client):
    case = faulty_case(warranty_end=TODAY + timedelta(days=30))
    supplier = SupplierFactory(name="Volt")
    client.force_login(UserFactory(username="wanda", is_staff=True, groups=["Warehouse"]))
    form = client.get("/admin/stock/repair/add/").content.decode()
    assert f"Case C-7 (under warranty until {case.warranty_end:%Y-%m-%d})" in form

    sent = client.post(
        "/admin/stock/repair/add/",
        {"component": case.pk, "supplier": supplier.pk, "rma_number": "R-9", "note": ""},
        follow=True,
    )

    shown = [str(m) for m in sent.context["messages"]]
    assert f"Case C-7 sent to Volt. Under warranty until {case.warranty_end:%Y-%m-%d}." in shown
    repair = Repair.objects.get()
    returned = client.post(
        f"/admin/stock/repair/{repair.pk}/return/",
        {"outcome": "repaired", "location": main_warehouse().pk},
        follow=True,
    )
    assert "Case C-7 back from repair: repaired, back to stock; 0 days away." in [
        str(m) for m in returned.context["messages"]
    ]
    client.force_login(UserFactory(username="mgr", is_staff=True, groups=["Manager"]))
    assert client.get(f"/admin/stock/repair/{repair.pk}/change/").status_code == 200
    assert client.post(f"/admin/stock/repair/{repair.pk}/return/", {"outcome": "scrapped"}).status_code == 403
