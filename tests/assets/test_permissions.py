"""Who may do what: each role against each API endpoint and action, and the admin's own views."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assets import services
from assets.models import Kind
from tests.factories import BusbarFactory, CaseFactory, ComponentFactory, UserFactory, main_warehouse

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "no group", "Warehouse", "Field engineer", "Manager", "superuser"]


def client_for(role):
    client = APIClient()
    if role == "anonymous":
        return client
    if role == "superuser":
        user = UserFactory(is_superuser=True)
    else:
        user = UserFactory(groups=[] if role == "no group" else [role])
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def stock():
    """A busbar (in stock) with a case in dock 1, spare parts in stock, and the warehouse."""
    busbar = BusbarFactory(dock_count=4)
    dock_1 = services.child_position_get(parent=busbar, kind=Kind.CASE, number=1)
    installed = CaseFactory()
    services.component_install(confirm_incomplete=True, component=installed, position=dock_1, user=None)
    return {
        "dock_1": dock_1,
        "dock_2": services.child_position_get(parent=busbar, kind=Kind.CASE, number=2),
        "installed": installed,
        "spare": CaseFactory(),
        "cell_block": ComponentFactory(kind=Kind.CELL_BLOCK),
        "warehouse": main_warehouse(),
    }


READS = ["sites", "components", "cases", "cabinets", "positions", "installations", "events"]
READ_EXPECTED = dict(zip(ROLES, [401, 403, 200, 200, 200, 200], strict=True))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", READS)
def test_reads_need_a_role(role, endpoint, stock):
    assert client_for(role).get(f"/api/v1/{endpoint}/").status_code == READ_EXPECTED[role]


def test_detail_reads_need_a_role(stock):
    url = f"/api/v1/cases/{stock['installed'].pk}/"
    assert [client_for(role).get(url).status_code for role in ROLES] == [401, 403, 200, 200, 200, 200]


def _receive(stock):
    return "/api/v1/stock/receive/", {
        "kind": "fet",
        "serials": ["FET-NEW-1"],
        "location": stock["warehouse"].pk,
    }


def _set_status(stock):
    return f"/api/v1/components/{stock['cell_block'].pk}/set_status/", {
        "status": "faulty",
        "reason": "cracked",
    }


def _install(stock):
    return "/api/v1/installations/install/", {
        "component": stock["spare"].pk,
        "position": stock["dock_2"].pk,
        "confirm_incomplete": True,
    }


def _remove(stock):
    return "/api/v1/installations/remove/", {
        "component": stock["installed"].pk,
        "reason": "swelling",
        "new_status": "faulty",
    }


def _swap(stock):
    return "/api/v1/installations/swap/", {
        "position": stock["dock_1"].pk,
        "old_component": stock["installed"].pk,
        "new_component": stock["spare"].pk,
        "reason": "swelling",
        "old_component_status": "faulty",
        "confirm_incomplete": True,
    }


def _install_nonsense(stock):
    return "/api/v1/installations/install/", {"component": "not an id"}


def _receive_nothing(stock):
    return "/api/v1/stock/receive/", {"kind": "fet", "serials": [], "location": stock["warehouse"].pk}


#                                anonymous, no group, Warehouse, Field engineer, Manager, superuser
WRITES = {
    "receive": (_receive, [401, 403, 201, 403, 403, 201]),
    "set_status": (_set_status, [401, 403, 200, 200, 403, 200]),
    "install": (_install, [401, 403, 403, 201, 403, 201]),
    "remove": (_remove, [401, 403, 403, 200, 403, 200]),
    "swap": (_swap, [401, 403, 403, 201, 403, 201]),
    "install with bad input": (_install_nonsense, [401, 403, 403, 400, 403, 400]),
    "receive with no serials": (_receive_nothing, [401, 403, 400, 403, 403, 400]),
}


@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=ROLES)
@pytest.mark.parametrize("action", WRITES)
def test_writes_need_the_role_that_does_them(action, role_index, stock):
    request_for, expected = WRITES[action]
    url, body = request_for(stock)

    response = client_for(ROLES[role_index]).post(url, body, format="json")

    assert response.status_code == expected[role_index], response.json()


@pytest.mark.parametrize("endpoint", ["sites", "components", "cases", "installations", "events"])
def test_records_are_not_written_directly_even_by_a_superuser(endpoint, stock):
    """The actions above are the only writes: plain create, update and delete do not exist."""
    client = client_for("superuser")
    case = stock["installed"]

    assert client.post(f"/api/v1/{endpoint}/", {}, format="json").status_code == 405
    assert client.patch(f"/api/v1/components/{case.pk}/", {"notes": "x"}, format="json").status_code == 405
    assert client.delete(f"/api/v1/components/{case.pk}/").status_code == 405


def test_roles_hold_exactly_the_permissions_of_the_brief():
    def codenames(name):
        permissions = Group.objects.get(name=name).permissions.filter(content_type__app_label="assets")
        return set(permissions.values_list("codename", flat=True))

    views = {f"view_{m}" for m in ("site", "component", "case", "position", "installation", "componentevent")}
    assert codenames("Manager") == views
    assert codenames("Warehouse") == views | {
        "add_component",
        "change_component",
        "add_case",
        "change_case",
        "add_site",
        "change_site",
        "set_component_status",
    }
    assert codenames("Field engineer") == views | {
        "add_installation",
        "change_installation",
        "set_component_status",
    }


ADMIN_PAGES = {
    "receive shipment": ("/admin/assets/component/receive/", [302, 403, 200, 403, 403, 200]),
    "assemble a case": ("/admin/assets/case/assemble/", [302, 403, 200, 403, 403, 200]),
    "components": ("/admin/assets/component/", [302, 403, 200, 200, 200, 200]),
    "add installation": ("/admin/assets/installation/add/", [302, 403, 403, 403, 403, 403]),
}


@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=ROLES)
@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_pages_by_role(client, page, role_index):
    """Staff accounts of every role; the admin lets each do what its permissions allow."""
    url, expected = ADMIN_PAGES[page]
    role = ROLES[role_index]
    if role != "anonymous":
        groups = [] if role in {"no group", "superuser"} else [role]
        client.force_login(UserFactory(is_staff=True, is_superuser=role == "superuser", groups=groups))

    assert client.get(url).status_code == expected[role_index]


@pytest.mark.django_db(transaction=True)
def test_roles_come_back_after_a_database_flush():
    """Transactional tests flush the database; post_migrate grants the roles again."""
    call_command("flush", interactive=False, verbosity=0)

    engineer = UserFactory(groups=["Field engineer"])

    assert engineer.has_perms(["assets.add_installation", "assets.change_installation", "assets.view_case"])
    assert not engineer.has_perm("assets.add_component")
