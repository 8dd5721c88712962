"""Field engineers' forms: install, swap and remove at a dock, replace a part in a case, discrepancies."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assets.models import Kind, Status
from assets.selectors import component_in_position_at
from assets.services import child_position_get, component_remove
from telemetry.models import Discrepancy
from tests.factories import AcqBoardFactory, CaseFactory, build_site
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


def change_url(position, action):
    return reverse("web:field-change", args=[position.pk, action])


@pytest.fixture
def engineer(client, users):
    return client_for(client, users["field"])


@pytest.mark.parametrize("role", ["manager", "warehouse", "nobody"])
def test_field_pages_are_forbidden_without_install_permissions(client, users, site, role):
    client_for(client, users[role])
    dock = site.test_docks[(1, 1)]
    urls = [
        reverse("web:field-home"),
        reverse("web:field-site", args=[site.pk]),
        reverse("web:field-position", args=[dock.pk]),
        change_url(dock, "replace"),
    ]
    for url in urls:
        assert client.get(url).status_code == 403, url
    response = client.post(change_url(dock, "remove"), {"reason": "x", "step": "confirm"})
    assert response.status_code == 403
    assert component_in_position_at(position=dock) == site.test_cases[(1, 1)]


def test_engineer_walks_from_site_to_dock(engineer, site):
    home = engineer.get(reverse("web:field-home"), {"q": "chiang"}).content.decode()
    assert reverse("web:field-site", args=[site.pk]) in home
    site_page = engineer.get(reverse("web:field-site", args=[site.pk])).content.decode()
    dock = site.test_docks[(1, 3)]
    assert reverse("web:field-position", args=[dock.pk]) in site_page
    dock_page = engineer.get(reverse("web:field-position", args=[dock.pk])).content.decode()
    assert "PMS-77-001 cabinet 1 dock 3" in dock_page
    assert change_url(dock, "replace") in dock_page and change_url(dock, "remove") in dock_page


def test_field_home_searches_sites_by_name_pms_id_or_location(engineer, site):
    build_site(cabinets=1, docks=4, name="Hat Yai South", pms_id="PMS-12-004", location="Songkhla")
    south_link = "<strong>Hat Yai South</strong>"

    for query, shown in [("songkhla", True), ("pms-12-004", True), ("pms-77", False)]:
        page = engineer.get(reverse("web:field-home"), {"q": query}).content.decode()
        assert (south_link in page) is shown, query
        assert ("<strong>Chiang Mai North</strong>" in page) is not shown, query
    assert "No site matches." in engineer.get(reverse("web:field-home"), {"q": "nowhere"}).content.decode()


def test_swap_with_confirm_step_then_seen_on_the_case_timeline(engineer, site):
    dock = site.test_docks[(1, 2)]
    old_case, new_case = site.test_cases[(1, 2)], CaseFactory(serial="0999")
    form = engineer.get(change_url(dock, "replace"))
    assert form.context["form"]["old_component"].value() == old_case.pk
    data = {
        "serial": "0999",
        "reason": "Cell fault",
        "removed_status": "faulty",
        "old_component": old_case.pk,
    }
    review = engineer.post(change_url(dock, "replace"), {**data, "step": "review"})
    assert review.context["step"] == "confirm"
    assert "Check and confirm" in review.content.decode()
    assert component_in_position_at(position=dock) == old_case
    done = engineer.post(change_url(dock, "replace"), {**data, "step": "confirm"})
    assert done.status_code == 302
    result = engineer.get(done.url).content.decode()
    assert "Swapped at PMS-77-001 cabinet 1 dock 2" in result
    assert f"Out: <strong>Case {old_case.serial}</strong>, now faulty" in result
    assert reverse("web:case", args=["0999"]) in result
    old_case.refresh_from_db()
    assert old_case.status == Status.FAULTY and component_in_position_at(position=dock) == new_case
    timeline = engineer.get(reverse("web:case", args=["0999"])).context["timeline"]
    assert timeline[0].title == "Installed at PMS-77-001 cabinet 1 dock 2"
    assert timeline[0].user.username == "field" and "Cell fault" in timeline[0].detail


def test_wrong_case_id_is_shown_beside_the_field_and_values_are_kept(engineer, site):
    dock = site.test_docks[(1, 2)]
    data = {
        "serial": "NOPE-1",
        "reason": "Routine swap",
        "note": "left side",
        "removed_status": "in_repair",
        "old_component": site.test_cases[(1, 2)].pk,
        "step": "review",
    }
    response = engineer.post(change_url(dock, "replace"), data)
    assert response.status_code == 200 and response.context["step"] == "edit"
    assert response.context["form"].errors["serial"] == [
        "There is no case with Case id 'NOPE-1'. Check the id on the label."
    ]
    html = response.content.decode()
    assert 'value="NOPE-1"' in html and 'value="Routine swap"' in html and "left side" in html
    assert '<option value="in_repair" selected>' in html
    assert 'aria-invalid="true"' in html


def test_service_errors_land_beside_the_right_field(engineer, site):
    dock = site.test_docks[(1, 1)]
    installed_elsewhere = site.test_cases[(1, 3)]
    data = {
        "serial": installed_elsewhere.serial,
        "reason": "Swap",
        "removed_status": "in_stock",
        "old_component": site.test_cases[(1, 1)].pk,
        "step": "confirm",
    }
    response = engineer.post(change_url(dock, "replace"), data)
    assert response.status_code == 200
    assert response.context["form"].errors["serial"] == [
        f"Case {installed_elsewhere.serial} is installed at PMS-77-001 cabinet 1 dock 3; remove it first."
    ]
    assert component_in_position_at(position=dock) == site.test_cases[(1, 1)]


def test_swap_refused_when_someone_changed_the_dock_meanwhile(engineer, site):
    dock = site.test_docks[(1, 1)]
    seen = site.test_cases[(1, 1)]
    component_remove(component=seen, user=None, reason="someone else")
    CaseFactory(serial="0777")
    data = {"serial": "0777", "reason": "Swap", "removed_status": "in_stock", "old_component": seen.pk}
    response = engineer.post(change_url(dock, "replace"), {**data, "step": "confirm"})
    assert "is empty; install instead of swapping" in " ".join(response.context["form"].non_field_errors())


def test_install_into_an_empty_dock_and_remove(engineer, site):
    dock = site.test_docks[(1, 4)]
    case = site.test_cases[(1, 4)]
    data = {
        "old_component": case.pk,
        "reason": "Decommission",
        "removed_status": "in_stock",
        "step": "confirm",
    }
    done = engineer.post(change_url(dock, "remove"), data)
    assert done.status_code == 302
    assert "Removed <strong>Case" in engineer.get(done.url).content.decode()
    assert component_in_position_at(position=dock) is None
    done = engineer.post(
        change_url(dock, "install"), {"serial": case.serial, "reason": "Back", "step": "confirm"}
    )
    assert done.status_code == 302 and component_in_position_at(position=dock) == case


def test_remove_refused_when_the_dock_holds_another_case_now(engineer, site):
    dock = site.test_docks[(1, 1)]
    other = site.test_cases[(1, 2)]
    data = {"old_component": other.pk, "reason": "x", "removed_status": "in_stock", "step": "confirm"}
    response = engineer.post(change_url(dock, "remove"), data)
    assert "someone changed it meanwhile" in " ".join(response.context["form"].non_field_errors())
    assert component_in_position_at(position=site.test_docks[(1, 2)]) == other


def test_backdated_change_is_read_in_site_local_time(engineer):
    site = build_site(cabinets=1, docks=4, at=timezone.now() - timedelta(hours=2))
    dock = site.test_docks[(1, 4)]
    case = site.test_cases[(1, 4)]
    local = timezone.localtime(timezone.now() - timedelta(minutes=1), timezone=site_zone(site))
    data = {
        "old_component": case.pk,
        "reason": "x",
        "removed_status": "in_stock",
        "at": local.strftime("%Y-%m-%dT%H:%M"),
        "step": "confirm",
    }
    assert engineer.post(change_url(dock, "remove"), data).status_code == 302
    installation = case.installations.get()
    assert installation.removed_at == local.replace(second=0, microsecond=0)


def site_zone(site):
    from zoneinfo import ZoneInfo

    return ZoneInfo(site.time_zone)


def test_replace_a_board_inside_a_case(engineer, site):
    case = site.test_cases[(1, 1)]
    slot = child_position_get(parent=case, kind=Kind.ACQ_BOARD)
    old_board, new_board = AcqBoardFactory(serial="A-OLD"), AcqBoardFactory(serial="A-NEW")
    engineer.post(change_url(slot, "install"), {"serial": "A-OLD", "reason": "Assembly", "step": "confirm"})
    dock_page = engineer.get(
        reverse("web:field-position", args=[site.test_docks[(1, 1)].pk])
    ).content.decode()
    assert "Acquisition board A-OLD" in dock_page and change_url(slot, "replace") in dock_page
    data = {
        "serial": "A-NEW",
        "reason": "Board dead",
        "removed_status": "faulty",
        "old_component": old_board.pk,
    }
    done = engineer.post(change_url(slot, "replace"), {**data, "step": "confirm"})
    assert done.status_code == 302
    assert reverse("web:case", args=[case.serial]) in engineer.get(done.url).content.decode()
    assert component_in_position_at(position=slot) == new_board
    titles = [e.title for e in engineer.get(reverse("web:case", args=[case.serial])).context["timeline"]]
    assert "Acquisition board A-NEW installed in acquisition board" in titles
    assert "Acquisition board A-OLD removed from acquisition board" in titles


def test_find_case_by_id(engineer, site):
    case = site.test_cases[(1, 2)]
    response = engineer.get(reverse("web:field-find-case"), {"case": case.serial}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("web:field-position", args=[site.test_docks[(1, 2)].pk])
    response = engineer.get(reverse("web:field-find-case"), {"case": "X-404"})
    assert "There is no case with Case id &#x27;X-404&#x27;" in response.content.decode()
    assert 'value="X-404"' in response.content.decode()


@pytest.fixture
def site_since_yesterday(db):
    return build_site(cabinets=1, docks=4, pms_id="PMS-78-001", at=timezone.now() - timedelta(days=1))


def unlogged_swap(site, case, observed_dock, first_seen=None):
    """A discrepancy: ``case``, taken out of its dock before ``first_seen`` (default two hours ago), reports
    from PMS-wide dock ``observed_dock`` since then."""
    first_seen = first_seen or timezone.now() - timedelta(hours=2)
    component_remove(component=case, user=None, reason="lost track", at=first_seen - timedelta(minutes=5))
    return Discrepancy.objects.create(
        case=case,
        kind=Discrepancy.Kind.DOCK_MISMATCH,
        observed_site=site,
        observed_dock=observed_dock,
        first_seen=first_seen,
        last_seen=timezone.now(),
        sample_count=40,
    )


def record_this_swap(engineer, discrepancy):
    """Follow the "Record this swap" link of ``discrepancy`` on the discrepancies page: (path, form)."""
    page = engineer.get(reverse("web:discrepancies")).content.decode()
    card = next(card for card in page.split('<li class="card">') if f">{discrepancy.case.serial}</a>" in card)
    assert "Record this swap" in card
    href = card.split('class="button primary" href="')[1].split('"')[0].replace("&amp;", "&")
    return href.split("?")[0], engineer.get(href).context["form"]


def filled_in(form):
    return {name: form[name].value() for name in form.fields if form[name].value() is not None}


def test_discrepancy_record_this_swap_prefills_the_form(engineer, site_since_yesterday):
    site = site_since_yesterday
    roaming = site.test_cases[(1, 1)]
    first_seen = timezone.now() - timedelta(hours=2)
    discrepancy = unlogged_swap(site, roaming, 3, first_seen)
    path, form = record_this_swap(engineer, discrepancy)
    assert path == change_url(site.test_docks[(1, 3)], "replace")
    assert form["serial"].value() == roaming.serial
    assert form["old_component"].value() == site.test_cases[(1, 3)].pk
    assert form["reason"].value() == "Unlogged swap seen in telemetry"
    local = timezone.localtime(first_seen, timezone=site_zone(site))
    assert form["at"].value() == local.strftime("%Y-%m-%dT%H:%M")
    assert str(form["discrepancy"].value()) == str(discrepancy.pk)


@pytest.mark.parametrize("action", ["replace", "install"])
def test_recording_the_swap_from_a_discrepancy_resolves_it(engineer, users, site_since_yesterday, action):
    site = site_since_yesterday
    roaming = site.test_cases[(1, 1)]
    dock = site.test_docks[(1, 3)]
    if action == "install":
        taken_out = timezone.now() - timedelta(hours=3)
        component_remove(component=site.test_cases[(1, 3)], user=None, reason="taken out", at=taken_out)
    discrepancy = unlogged_swap(site, roaming, 3)
    path, form = record_this_swap(engineer, discrepancy)
    assert path == change_url(dock, action)
    data = filled_in(form)

    review = engineer.post(path, {**data, "step": "review"})
    assert review.context["step"] == "confirm"
    assert (
        f"the discrepancy: case {roaming.serial} reported from PMS-78-001 dock 3" in review.content.decode()
    )
    assert Discrepancy.objects.get().status == Discrepancy.Status.OPEN
    done = engineer.post(path, {**data, "step": "confirm"})

    assert done.status_code == 302
    result = engineer.get(done.url).content.decode()
    assert f"Discrepancy resolved: case {roaming.serial} reported from PMS-78-001 dock 3" in result
    assert "Resolved by field at" in result
    discrepancy.refresh_from_db()
    assert discrepancy.status == Discrepancy.Status.RESOLVED
    assert discrepancy.resolved_by == users["field"] and discrepancy.resolved_at is not None
    assert (
        discrepancy.resolved_with.component == roaming and component_in_position_at(position=dock) == roaming
    )
    assert "No open discrepancies." in engineer.get(reverse("web:discrepancies")).content.decode()


def test_a_discrepancy_id_that_does_not_match_the_change_is_refused_and_nothing_is_recorded(
    engineer, site_since_yesterday
):
    site = site_since_yesterday
    roaming, other = site.test_cases[(1, 1)], site.test_cases[(1, 2)]
    dock = site.test_docks[(1, 3)]
    seen_here = unlogged_swap(site, roaming, 3)
    unrelated = unlogged_swap(site, other, 4)
    data = {
        "serial": roaming.serial,
        "reason": "Unlogged swap seen in telemetry",
        "removed_status": "in_stock",
        "old_component": site.test_cases[(1, 3)].pk,
        "step": "confirm",
    }

    tampered = engineer.post(change_url(dock, "replace"), {**data, "discrepancy": unrelated.pk})
    html = tampered.content.decode()
    assert tampered.status_code == 200 and 'class="form-errors" role="alert"' in html
    assert (
        f"This change does not record the discrepancy it was opened from: case {other.serial} reported from "
        "PMS-78-001 dock 4." in html
    )
    # The right discrepancy, at another dock than the one it saw the case in.
    elsewhere = engineer.post(
        change_url(site.test_docks[(1, 1)], "install"),
        {**data, "discrepancy": seen_here.pk, "old_component": ""},
    )
    assert "does not record the discrepancy" in " ".join(elsewhere.context["form"].top_errors)
    for unknown_id in [0, "x"]:
        response = engineer.post(change_url(dock, "replace"), {**data, "discrepancy": unknown_id})
        assert "is resolved already, or unknown" in response.content.decode()

    assert component_in_position_at(position=dock) == site.test_cases[(1, 3)]
    assert component_in_position_at(position=site.test_docks[(1, 1)]) is None
    assert set(Discrepancy.objects.values_list("status", flat=True)) == {Discrepancy.Status.OPEN}


def test_a_discrepancy_resolved_meanwhile_stops_the_change_at_confirm(engineer, site_since_yesterday):
    site = site_since_yesterday
    roaming, dock = site.test_cases[(1, 1)], site.test_docks[(1, 3)]
    discrepancy = unlogged_swap(site, roaming, 3)
    path, form = record_this_swap(engineer, discrepancy)
    data = filled_in(form)
    assert engineer.post(path, {**data, "step": "review"}).context["step"] == "confirm"
    Discrepancy.objects.update(status=Discrepancy.Status.RESOLVED)

    response = engineer.post(path, {**data, "step": "confirm"})

    assert response.status_code == 200
    assert "is resolved already, or unknown" in " ".join(response.context["form"].top_errors)
    assert component_in_position_at(position=dock) == site.test_cases[(1, 3)]


def test_an_unknown_change_is_a_404_page(engineer, site):
    response = engineer.get(change_url(site.test_docks[(1, 1)], "explode"))
    assert response.status_code == 404 and b"Not found" in response.content
