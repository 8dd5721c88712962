"""Spare levels: the spares view counts stock, reserved stock and repairs against each minimum; the daily task
raises a low-stock alert (shown on the warehouse home and the alarm list) and clears it once stock is back."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError

from assets import services as asset_services
from assets.models import Kind, Status
from stock import selectors, services
from stock.models import LowStockAlert, Reservation, SpareLevel, StockLocation
from stock.tasks import check_spare_levels
from tests.factories import CaseFactory, ComponentFactory, UserFactory, build_site, main_warehouse

pytestmark = pytest.mark.django_db


def test_levels_count_per_model_and_location_and_the_daily_check_raises_and_clears_alerts(client):
    warehouse = main_warehouse()
    van = StockLocation.objects.create(kind="van", name="van 2")
    boards = ComponentFactory.create_batch(3, kind=Kind.FET_BOARD, model_number="FB-2")
    ComponentFactory(kind=Kind.FET_BOARD, model_number="FB-1")
    ComponentFactory(kind=Kind.FET_BOARD, model_number="FB-2", status=Status.IN_REPAIR)
    for board in boards[:2]:
        services.component_move(component=board, to_location=van, user=None)
    services.component_move(component=boards[2], to_location=warehouse, user=None)
    overall = SpareLevel.objects.create(kind=Kind.FET_BOARD, minimum=4)
    model_in_van = SpareLevel.objects.create(
        kind=Kind.FET_BOARD, model_number="FB-2", location=van, minimum=3
    )

    counts = {c.level: (c.in_stock, c.in_repair, c.short) for c in selectors.spare_level_counts()}

    assert counts == {overall: (4, 1, 0), model_in_van: (2, 1, 1)}
    check_spare_levels()
    [alert] = LowStockAlert.objects.all()
    assert (alert.level, alert.in_stock, alert.cleared_at) == (model_in_van, 2, None)
    assert services.spare_levels_check() == (0, 0)

    client.force_login(UserFactory(username="mgr", groups=["Manager"]))
    shown = "FET board FB-2 in van 2</strong>: 2 in stock, minimum 3"
    assert shown in client.get("/alarms/").content.decode()
    client.force_login(UserFactory(username="wanda", is_staff=True, groups=["Warehouse"]))
    assert shown in client.get("/").content.decode()
    spares = client.get("/admin/stock/sparelevel/").content.decode()
    assert '<td class="field-short">1</td>' in spares

    services.component_move(component=boards[2], to_location=van, user=None)
    assert services.spare_levels_check() == (0, 1)
    assert not selectors.open_low_stock_alerts().exists()


def test_reserved_stock_is_shown_and_counts_against_the_minimum_until_released_or_installed(client):
    wanda = UserFactory(username="wanda", is_staff=True, groups=["Warehouse"])
    site = build_site(cabinets=1, docks=4)
    cases = CaseFactory.create_batch(3, status=Status.IN_STOCK)
    SpareLevel.objects.create(kind=Kind.CASE, minimum=2)

    services.component_reserve(component=cases[0], user=wanda, reason="swap at PMS-77-001")
    services.component_reserve(component=cases[1], user=wanda, reason="swap at PMS-77-001")

    [counts] = selectors.spare_level_counts()
    assert (counts.in_stock, counts.reserved, counts.available, counts.short) == (3, 2, 1, 1)
    assert services.spare_levels_check() == (1, 0)
    assert (LowStockAlert.objects.get().in_stock, LowStockAlert.objects.get().reserved) == (3, 2)
    client.force_login(wanda)
    assert "3 in stock (2 reserved), minimum 2" in client.get("/").content.decode()
    spares = client.get("/admin/stock/sparelevel/").content.decode()
    assert '<td class="field-reserved">2</td><td class="field-available">1</td>' in spares

    asset_services.component_swap(
        position=site.test_docks[(1, 1)], old_component=site.test_cases[(1, 1)], new_component=cases[0],
        user=wanda, reason="swap", old_component_status=Status.FAULTY, confirm_incomplete=True,
    )  # fmt: skip
    assert not cases[0].reservations.filter(released_at=None).exists()
    response = client.post(
        "/admin/stock/reservation/",
        {"action": "release", ACTION_CHECKBOX_NAME: [r.pk for r in Reservation.objects.all()]},
        follow=True,
    )
    assert "Released 1 reservation." in [str(m) for m in response.context["messages"]]
    [counts] = selectors.spare_level_counts()
    assert (counts.in_stock, counts.reserved, counts.short) == (2, 0, 0)
    assert services.spare_levels_check() == (0, 1)


def test_only_stock_not_yet_reserved_is_reserved_and_a_reason_is_needed(client):
    case, faulty = CaseFactory(status=Status.IN_STOCK), CaseFactory(status=Status.FAULTY)
    services.component_reserve(component=case, user=None, reason="PMS-01-001")

    with pytest.raises(ValidationError, match="is faulty; only stock is reserved"):
        services.component_reserve(component=faulty, user=None, reason="x")
    client.force_login(UserFactory(username="wanda", is_staff=True, groups=["Warehouse"]))
    refused = client.post("/admin/stock/reservation/add/", {"component": case.pk, "reason": "again"})
    assert refused.context["adminform"].form.errors["component"] == [
        f"Case {case.serial} is already reserved for PMS-01-001."
    ]
    no_reason = client.post("/admin/stock/reservation/add/", {"component": faulty.pk, "reason": ""})
    assert "reason" in no_reason.context["adminform"].form.errors
    assert Reservation.objects.count() == 1


def test_field_engineers_and_managers_cannot_reserve_or_release(client):
    case = CaseFactory(status=Status.IN_STOCK)
    reservation = services.component_reserve(component=case, user=None, reason="x")
    client.force_login(UserFactory(username="eddie", is_staff=True, groups=["Field engineer"]))
    assert (
        client.post("/admin/stock/reservation/add/", {"component": case.pk, "reason": "y"}).status_code == 403
    )
    client.post("/admin/stock/reservation/", {"action": "release", ACTION_CHECKBOX_NAME: [reservation.pk]})
    reservation.refresh_from_db()
    assert reservation.released_at is None
