"""The header's search box: exact ids jump to their page, other text lists what it finds by kind."""

import pytest
from django.urls import reverse

from assets.models import Kind
from assets.services import case_assemble, component_install, site_position_get_or_create
from tests.factories import CaseFactory, ComponentFactory, case_parts
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


def search(client, text):
    return client.get(reverse("web:search"), {"q": text})


@pytest.mark.parametrize("role", ["manager", "field", "warehouse"])
def test_every_role_has_the_search_box_in_the_header(client, users, site, role):
    page = client_for(client, users[role]).get(reverse("web:case", args=[site.test_cases[(1, 1)].serial]))
    assert b'role="search"' in page.content
    assert b'id="header-search"' in page.content


def test_the_admin_header_has_the_search_box_too(client, users):
    users["warehouse"].is_staff = True
    users["warehouse"].save()
    page = client_for(client, users["warehouse"]).get(reverse("admin:index"))
    assert b'role="search"' in page.content and b'id="header-search"' in page.content


def test_a_case_id_jumps_to_the_case_page(client, users, site):
    case = site.test_cases[(1, 2)]
    response = search(client_for(client, users["field"]), f" {case.serial.lower()} ")
    assert response.status_code == 302
    assert response.url == reverse("web:case", args=[case.serial])


@pytest.mark.parametrize("text", ["PMS-77-001", "chiang mai north"])
def test_a_site_name_or_pms_id_jumps_to_the_site_page(client, users, site, text):
    # The PMS id is also its controllers' configured id: they lead to the same page.
    response = search(client_for(client, users["manager"]), text)
    assert response.status_code == 302
    assert response.url == reverse("web:site", args=[site.pk])


def test_a_board_id_jumps_to_the_case_that_holds_it(client, users, site):
    case = CaseFactory(serial="0777")
    parts = case_parts()
    case_assemble(case=case, user=None, **parts)
    response = search(client_for(client, users["manager"]), parts["acq_board"].serial)
    assert response.url == reverse("web:case", args=[case.serial])
    response = search(client, parts["fets"][1].serial)
    assert response.url == reverse("web:case", args=[case.serial])


def test_a_device_id_jumps_to_its_site(client, users, site):
    mppt = ComponentFactory(kind=Kind.MPPT, serial="MP-1", configured_id="IT6415AD-77-001")
    component_install(
        component=mppt, position=site_position_get_or_create(site=site, kind=Kind.MPPT, number=1), user=None
    )
    response = search(client_for(client, users["manager"]), "it6415ad-77-001")
    assert response.url == reverse("web:site", args=[site.pk])


def test_part_of_an_id_lists_matches_grouped_by_kind(client, users, site):
    CaseFactory(serial="0A77")
    board = ComponentFactory(kind=Kind.ACQ_BOARD, serial="B-770")
    response = search(client_for(client, users["manager"]), "77")
    assert response.status_code == 200
    groups = dict(response.context["results"].groups)
    assert [hit.label for hit in groups["Sites"]] == ["Chiang Mai North"]
    assert "Case 0A77" in [hit.label for hit in groups["Case"]]
    [board_hit] = groups["Acquisition board"]
    assert board_hit.label == f"Acquisition board {board.serial}" and board_hit.detail == "In stock"
    assert board_hit.url is None  # a manager is no staff user: a board in stock has no page for them
    text = response.content.decode()
    assert "<h2>Sites</h2>" in text and "<h2>Acquisition board</h2>" in text


def test_a_board_in_stock_links_staff_to_its_admin_page(client, users, site):
    board = ComponentFactory(kind=Kind.ACQ_BOARD, serial="B-771")
    users["warehouse"].is_staff = True
    users["warehouse"].save()
    response = search(client_for(client, users["warehouse"]), "B-771")
    assert response.url == reverse("admin:assets_component_change", args=[board.pk])


@pytest.mark.parametrize("text", ["no-such-thing", "", "\x00", "x" * 500, "%_"])
def test_nothing_found_says_so(client, users, site, text):
    response = search(client_for(client, users["manager"]), text)
    assert response.status_code == 200
    assert response.context["results"].groups == []
    if text.strip("\x00"):
        assert "Nothing has that id or name" in response.content.decode()


def test_users_without_a_role_cannot_search(client, users, site):
    assert search(client_for(client, users["nobody"]), site.pms_id).status_code == 403
