"""Field engineers' forms: install, swap and remove at a dock, replace a part in a case, discrepancies."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from assets.models import Kind, Status
from assets.selectors import component_in_position_at
from assets.services import child_position_get, component_install, component_remove
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
    assert "PMS-77-001 C1-D3" in dock_page
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
        "confirm_incomplete": "on",
    }
    review = engineer.post(change_url(dock, "replace"), {**data, "step": "review"})
    assert review.context["step"] == "confirm"
    assert "Check and confirm" in review.content.decode()
    assert component_in_position_at(position=dock) == old_case
    done = engineer.post(change_url(dock, "replace"), {**data, "step": "confirm"})
    assert done.status_code == 302
    result = engineer.get(done.url).content.decode()
    assert "Swapped at PMS-77-001 C1-D2" in result
    assert f"Out: <strong>Case {old_case.serial}</strong>, now faulty" in result
    assert reverse("web:case", args=["0999"]) in result
    old_case.refresh_from_db()
    assert old_case.status == Status.FAULTY and component_in_position_at(position=dock) == new_case
    timeline = engineer.get(reverse("web:case", args=["0999"])).context["timeline"]
    assert timeline[0].title == "Installed at PMS-77-001 C1-D2"
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
        "confirm_incomplete": "on",
        "step": "confirm",
    }
    response = engineer.post(change_url(dock, "replace"), data)
    assert response.status_code == 200
    assert response.context["form"].errors["serial"] == [
        f"Case {installed_elsewhere.serial} is installed at PMS-77-001 C1-D3; remove it first."
    ]
    assert component_in_position_at(position=dock) == site.test_cases[(1, 1)]


def test_review_shows_every_problem_beside_its_field_before_confirm(engineer, site):
    """The review runs the service's own checks: an occupied dock and a faulty case show at once, each
    beside its field, and no Confirm button is offered."""
    dock = site.test_docks[(1, 2)]
    faulty = CaseFactory(serial="0666", status=Status.FAULTY)
    data = {"serial": "0666", "reason": "Fill", "step": "review", "confirm_incomplete": "on"}
    response = engineer.post(change_url(dock, "install"), data)
    assert response.status_code == 200 and response.context["step"] == "edit"
    form = response.context["form"]
    assert form.errors["serial"] == [
        f"Case {faulty.serial} is faulty; only components in stock can be installed."
    ]
    occupant = site.test_cases[(1, 2)]
    assert form.top_errors == [f"PMS-77-001 C1-D2 holds Case {occupant.serial}; remove or swap it first."]
    html = response.content.decode()
    serial_field = html.split('<div class="field has-error">')[1].split('<div class="field')[0]
    assert (
        'id="id_serial"' in serial_field
        and "is faulty; only components in stock can be installed." in serial_field
    )
    assert "Confirm" not in html
    assert component_in_position_at(position=dock) == occupant


def test_review_of_a_swap_with_a_case_installed_elsewhere_is_refused_at_review(engineer, site):
    dock = site.test_docks[(1, 1)]
    elsewhere = site.test_cases[(1, 3)]
    data = {
        "serial": elsewhere.serial,
        "reason": "Swap",
        "removed_status": "faulty",
        "old_component": site.test_cases[(1, 1)].pk,
        "step": "review",
        "confirm_incomplete": "on",
    }
    response = engineer.post(change_url(dock, "replace"), data)
    assert response.context["step"] == "edit"
    assert response.context["form"].errors["serial"] == [
        f"Case {elsewhere.serial} is installed at PMS-77-001 C1-D3; remove it first."
    ]
    spare = CaseFactory()
    response = engineer.post(change_url(dock, "replace"), {**data, "serial": spare.serial})
    assert response.context["step"] == "confirm" and not response.context["form"].errors


def test_a_change_made_between_review_and_confirm_is_still_refused_at_confirm(engineer, site):
    dock = site.test_docks[(1, 4)]
    spare = CaseFactory()
    component_remove(component=site.test_cases[(1, 4)], user=None, reason="emptied")
    data = {"serial": spare.serial, "reason": "Fill", "step": "review", "confirm_incomplete": "on"}
    assert engineer.post(change_url(dock, "install"), data).context["step"] == "confirm"
    other = CaseFactory()  # someone else fills the dock before this engineer confirms
    component_install(component=other, position=dock, user=None, reason="first", confirm_incomplete=True)
    response = engineer.post(change_url(dock, "install"), {**data, "step": "confirm"})
    assert response.status_code == 200
    assert f"holds Case {other.serial}; remove or swap it first." in " ".join(
        response.context["form"].top_errors
    )
    assert component_in_position_at(position=dock) == other


def test_swap_refused_when_someone_changed_the_dock_meanwhile(engineer, site):
    dock = site.test_docks[(1, 1)]
    seen = site.test_cases[(1, 1)]
    component_remove(component=seen, user=None, reason="someone else")
    CaseFactory(serial="0777")
    data = {"serial": "0777", "reason": "Swap", "removed_status": "in_stock", "old_component": seen.pk}
    data["confirm_incomplete"] = "on"
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
        change_url(dock, "install"),
        {"serial": case.serial, "reason": "Back", "confirm_incomplete": "on", "step": "confirm"},
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
        kind=Discrepancy.Kind.NOT_INSTALLED,
        observed_site=site,
        observed_dock=observed_dock,
        first_seen=first_seen,
        last_seen=timezone.now(),
        sample_count=40,
    )


def record_this_swap(engineer, discrepancy):
    """Follow the "Record this swap" link of ``discrepancy`` on the discrepancies page: (path, form)."""
    page = engineer.get(reverse("web:discrepancies")).content.decode()
    card = next(card for card in page.split('<li class="card"') if f">{discrepancy.case.serial}</a>" in card)
    assert "Record this swap" in card
    href = card.split('class="button primary" href="')[1].split('"')[0].replace("&amp;", "&")
    return href.split("?")[0], engineer.get(href).context["form"]


def filled_in(form):
    """The form's prefilled values, as the engineer sends them; the test cases have no parts fitted."""
    values = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    return {**values, "confirm_incomplete": "on"}


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
    data = {**filled_in(form), "removed_status": "in_stock"}  # asked for, never defaulted

    review = engineer.post(path, {**data, "step": "review"})
    assert review.context["step"] == "confirm"
    seen = f"case {roaming.serial} seen at PMS-78-001 C1-D3 (reported as dock 3)"
    assert f"the discrepancy: {seen}" in review.content.decode()
    assert Discrepancy.objects.get().status == Discrepancy.Status.OPEN
    done = engineer.post(path, {**data, "step": "confirm"})

    assert done.status_code == 302
    result = engineer.get(done.url).content.decode()
    assert f"Discrepancy resolved: {seen}" in result
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
        f"This change does not record the discrepancy it was opened from: case {other.serial} seen at "
        "PMS-78-001 C1-D4 (reported as dock 4)." in html
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
    data = {**filled_in(form), "removed_status": "in_stock"}  # asked for, never defaulted
    assert engineer.post(path, {**data, "step": "review"}).context["step"] == "confirm"
    Discrepancy.objects.update(status=Discrepancy.Status.RESOLVED)

    response = engineer.post(path, {**data, "step": "confirm"})

    assert response.status_code == 200
    assert "is resolved already, or unknown" in " ".join(response.context["form"].top_errors)
    assert component_in_position_at(position=dock) == site.test_cases[(1, 3)]


def test_an_unknown_change_is_a_404_page(engineer, site):
    response = engineer.get(change_url(site.test_docks[(1, 1)], "explode"))
    assert response.status_code == 404 and b"Not found" in response.content


def test_the_swap_form_names_the_new_case_and_asks_what_becomes_of_the_old_one(engineer, site):
    dock = site.test_docks[(1, 1)]
    old = site.test_cases[(1, 1)]
    page = engineer.get(change_url(dock, "replace"))
    html = page.content.decode()
    assert "<h1>Swap at PMS-77-001 C1-D1</h1>" in html
    assert "New case&#x27;s Case id" in html and "The case going in." in html
    assert "Status of the case taken out" in html and '<option value="" selected>Choose…</option>' in html
    spare = CaseFactory()
    data = {
        "serial": spare.serial,
        "reason": "Weak cell",
        "old_component": old.pk,
        "step": "review",
        "confirm_incomplete": "on",
    }
    response = engineer.post(change_url(dock, "replace"), data)
    assert response.context["step"] == "edit"
    assert response.context["form"].errors["removed_status"] == [
        "Choose the status of the case taken out: in stock, faulty, in repair or retired."
    ]
    review = engineer.post(change_url(dock, "replace"), {**data, "removed_status": "faulty"}).content.decode()
    assert "Goes in (new)" in review and f"Case {old.serial}, which becomes <strong>faulty</strong>" in review
    assert "Confirm swap</button>" in review
    done = engineer.post(change_url(dock, "replace"), {**data, "removed_status": "faulty", "step": "confirm"})
    result = engineer.get(done.url).content.decode()
    assert "Swapped at PMS-77-001 C1-D1" in result


def discrepancy_card(engineer, discrepancy):
    page = engineer.get(reverse("web:discrepancies")).content.decode()
    return page.split(f'id="discrepancy-{discrepancy.pk}"')[1].split("</li>")[0]


@pytest.mark.parametrize(
    ("kind", "says", "buttons"),
    [
        (Discrepancy.Kind.UNKNOWN_DOCK, "has no dock 9 on its busbars", []),
        (Discrepancy.Kind.NOT_INSTALLED, "recorded as faulty, and only a case in stock can be installed", []),
        (Discrepancy.Kind.OTHER_SITE, "", ["1. Remove it from its recorded dock", "2. Record this swap"]),
    ],
)
def test_each_kind_of_discrepancy_has_its_action_or_says_why_there_is_none(
    engineer, site_since_yesterday, kind, says, buttons
):
    site = site_since_yesterday
    case, observed_dock = site.test_cases[(1, 1)], 3
    discrepancy = Discrepancy(
        case=case,
        kind=kind,
        observed_site=site,
        observed_dock=observed_dock,
        recorded_site=site,
        recorded_dock=1,
    )
    if kind == Discrepancy.Kind.UNKNOWN_DOCK:
        discrepancy.observed_dock = 9
    elif kind == Discrepancy.Kind.NOT_INSTALLED:
        component_remove(component=case, user=None, reason="cell fault", new_status=Status.FAULTY)
        discrepancy.recorded_site = discrepancy.recorded_dock = None
    discrepancy.first_seen = discrepancy.last_seen = timezone.now()
    discrepancy.save()

    card = discrepancy_card(engineer, discrepancy)

    assert escape(kind.label) in card
    assert escape(says) in card
    assert [line.split(">")[-1] for line in card.split("</a>") if 'class="button' in line] == buttons


def test_an_incomplete_case_needs_the_box_ticked_and_what_it_lacks_is_recorded(engineer, site):
    dock, case = site.test_docks[(1, 4)], CaseFactory(serial="BARE-01")
    component_remove(component=site.test_cases[(1, 4)], user=None, reason="out")
    data = {"serial": case.serial, "reason": "Test pack", "step": "review"}

    refused = engineer.post(change_url(dock, "install"), data)

    lacks = "Case BARE-01 lacks 14 of 14 cell blocks, its acquisition board and its FET board"
    assert refused.context["step"] == "edit"
    assert refused.context["form"].errors["confirm_incomplete"] == [
        f"{lacks}. Confirm “install incomplete case” to install it as it is."
    ]
    review = engineer.post(change_url(dock, "install"), {**data, "confirm_incomplete": "on"})
    assert review.context["step"] == "confirm" and lacks in review.content.decode()
    done = engineer.post(change_url(dock, "install"), {**data, "confirm_incomplete": "on", "step": "confirm"})
    assert done.status_code == 302
    installation = component_in_position_at(position=dock).installations.get()
    assert installation.note == f"Installed incomplete, as confirmed: {lacks}."


def test_a_board_configured_with_another_case_id_is_flagged_at_review(engineer, site):
    case = site.test_cases[(1, 1)]
    board = AcqBoardFactory(serial="AB-77", configured_id="SOME-OTHER")
    place = child_position_get(parent=case, kind=Kind.ACQ_BOARD)
    data = {"serial": board.serial, "reason": "Fit board", "step": "review"}

    review = engineer.post(change_url(place, "install"), data)

    assert review.context["step"] == "confirm"
    assert f"This board is configured with Case id SOME-OTHER, not {case.serial}" in review.content.decode()


def test_the_field_drawing_marks_the_case_seen_in_a_dock_with_the_link_to_record_it(
    engineer, site_since_yesterday
):
    site = site_since_yesterday
    roaming = site.test_cases[(1, 1)]
    discrepancy = unlogged_swap(site, roaming, 3)

    page = engineer.get(reverse("web:field-site", args=[site.pk])).content.decode()

    dock = page.split('data-pms-dock="3"')[1].split("</li>")[0]
    assert f"Reporting: <strong>{roaming.serial}</strong>" in dock
    assert f"discrepancy={discrepancy.pk}" in dock and "record this swap" in dock
