"""Requests that used to answer 500: each now works, or answers a 4xx that says what is wrong."""

import pytest
from django.contrib import admin
from rest_framework.test import APIClient
from simple_history.admin import SimpleHistoryAdmin

from assets.models import Component, Kind
from tests.factories import CaseFactory, ComponentFactory, SiteFactory, UserFactory, main_warehouse
from tests.reliability.test_authorization_matrix import WAREHOUSE, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(UserFactory(groups=["Warehouse", "Field engineer"]))
    return client


def test_every_admin_history_page_answers_200(client):
    world = build_world()
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.raise_request_exception = False
    for model in admin.site._registry:
        row = world.admin_object(model)
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/{row.pk}/history/"
        warehouse = world.users[WAREHOUSE]
        may_view = warehouse.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}")
        users = [superuser] + ([warehouse] if may_view else [])
        pages = [base]
        if isinstance(admin.site._registry[model], SimpleHistoryAdmin):
            pages += [f"{base}{version.history_id}/" for version in row.history.all()]
        for user in users:
            client.force_login(user)
            for page in pages:
                assert client.get(page).status_code == 200, (user.username, page)


def test_the_case_history_page_lists_its_changes(client):
    case = CaseFactory()
    client.force_login(UserFactory(is_staff=True, groups=["Warehouse"]))

    page = client.get(f"/admin/assets/case/{case.pk}/history/")

    assert page.status_code == 200
    assert case.serial in page.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/stock/receive.json",
        "/api/v1/components/{pk}/set_status.json",
        "/api/v1/installations/install.json",
        "/api/v1/installations/remove.json",
        "/api/v1/installations/swap.json",
    ],
)
def test_the_json_form_of_an_action_validates_its_input(api, path):
    response = api.post(path.format(pk=ComponentFactory().pk), {}, format="json")

    assert response.status_code == 400
    errors = response.json()  # {field: [messages]}
    assert errors and all(isinstance(messages, list) for messages in errors.values())


def test_the_json_form_of_an_action_does_the_action(api):
    shipment = {"kind": "fet", "serials": ["FET-JSON-1"], "location": main_warehouse().pk}

    response = api.post("/api/v1/stock/receive.json", shipment, format="json")

    assert response.status_code == 201
    assert Component.objects.filter(kind=Kind.FET, serial="FET-JSON-1").exists()


@pytest.mark.parametrize("limit", [str(2**63), str(2**64 + 1), "99999999999"])
def test_a_huge_limit_is_taken_as_the_maximum(api, limit):
    ComponentFactory.create_batch(3)

    response = api.get(f"/api/v1/components/?limit={limit}&offset=1")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 2
    assert "limit=1000" in response.json()["previous"]


@pytest.mark.parametrize("query", ["limit=-5", "offset=-5", "limit=0", f"offset={2**63}", "limit=x&offset=y"])
def test_a_negative_or_odd_limit_or_offset_is_not_an_error(api, query):
    ComponentFactory.create_batch(2)

    assert api.get(f"/api/v1/components/?{query}").status_code == 200


@pytest.mark.parametrize(
    ("path", "parameter", "message"),
    [
        ("installations/?at=2024-01-01T00:00:00%2B23:59", "at", "UTC offset"),
        ("installations/?at=2024-01-01T00:00:00-16:00", "at", "UTC offset"),
        ("events/?after=2024-01-01T00:00:00%2B23:59", "after", "UTC offset"),
        ("events/?before=2024-01-01T00:00:00-23:59", "before", "UTC offset"),
        ("events/?after=9999-12-31T23:59:59-14:00", "after", "out of range"),
        ("events/?before=0001-01-01T00:00:00%2B01:00", "before", "out of range"),
        ("installations/?at=0001-01-01T00:00:00%2B14:00", "at", "out of range"),
        ("installations/?at=yesterday", "at", "valid date/time"),
    ],
)
def test_a_time_filter_postgresql_cannot_take_is_a_400_naming_it(api, path, parameter, message):
    response = api.get(f"/api/v1/{path}")

    assert response.status_code == 400
    assert list(response.json()) == [parameter]
    assert message in response.json()[parameter][0]


@pytest.mark.parametrize(
    "path",
    ["installations/?at=2024-01-01T00:00:00%2B15:59", "installations/?at=2024-01-01T00:00:00%2B07:00:30.5"],
)
def test_a_time_filter_with_an_unusual_but_valid_offset_works(api, path):
    assert api.get(f"/api/v1/{path}").status_code == 200


@pytest.mark.parametrize("view", ["series.json", "readings.csv"])
def test_a_chart_or_export_range_with_an_impossible_offset_is_a_400(client, view):
    site = SiteFactory()
    client.force_login(UserFactory(groups=["Manager"]))

    response = client.get(
        f"/sites/{site.pk}/{view}",
        {"range": "custom", "start": "2024-01-01T00:00:00+23:59", "end": "2024-01-02T00:00:00+07:00"},
    )

    assert response.status_code == 400
    assert "start" in response.content.decode()
    assert "UTC offset" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "/admin/assets/installation/?installed_at__gte=2024-01-01T00:00:00%2B23:59",
        "/admin/assets/installation/?installed_at__lt=9999-12-31T23:59:59-14:00",
        "/admin/assets/installation/?installed_at__year=99999",
        "/admin/assets/componentevent/?occurred_at__gte=2024-01-01T00:00:00%2B23:59",
        "/admin/alarms/alarm/?raised_at__gte=2024-01-01T00:00:00%2B23:59",
        "/admin/alarms/alarm/?raised_at__year=99999",
        "/admin/telemetry/ingestbatch/?received_at__gte=2024-01-01T00:00:00%2B23:59",
        "/admin/telemetry/quarantinedrecord/?replayed_at__lt=9999-12-31T23:59:59-14:00",
        "/admin/telemetry/discrepancy/?first_seen__gte=2024-01-01T00:00:00%2B23:59",
        "/admin/telemetry/gatewaytoken/?expires_at__year=99999",
    ],
)
def test_an_admin_time_filter_postgresql_cannot_take_is_a_400(client, query):
    client.raise_request_exception = False
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    assert client.get(query).status_code == 400


def test_an_admin_time_filter_within_range_still_filters(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get("/admin/assets/installation/?installed_at__gte=2024-01-01T00:00:00%2B07:00")

    assert response.status_code == 200


def test_a_case_id_with_a_nul_character_is_not_found(client):
    client.force_login(UserFactory(groups=["Manager", "Field engineer"]))

    assert client.get("/cases/01%0002/").status_code == 404
    page = client.get("/field/find-case/", {"case": "01\x0002"})
    assert page.status_code == 200
    assert "There is no case with Case id" in page.content.decode()
