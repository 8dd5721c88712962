"""What the case pages and the admin show of re-attributions (the moving itself: tests/telemetry/)."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import timezone

from assets import services
from assets.models import Kind
from telemetry.models import Reattribution
from tests.factories import AcqBoardFactory, ReattributionFactory
from tests.web.conftest import client_for


def window_text(reattribution, site):
    """The window of ``reattribution`` as the case pages show it, in the zone of the site the cases are on."""
    start, end = (
        at.astimezone(ZoneInfo(site.time_zone)) for at in (reattribution.changed_at, reattribution.window_end)
    )
    return f"readings from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"


def moved_board(site):
    case_a, case_b = site.test_cases[(1, 1)], site.test_cases[(1, 2)]
    board = AcqBoardFactory()
    installation = services.component_install(
        component=board,
        position=services.child_position_get(parent=case_b, kind=Kind.ACQ_BOARD),
        user=None,
        at=timezone.now() - timedelta(hours=3),
    )
    return case_a, case_b, installation


def test_both_cases_pages_say_a_reattribution_is_running_and_show_it_on_their_timelines(client, users, site):
    case_a, case_b, installation = moved_board(site)
    reattribution = ReattributionFactory(installation=installation, cases=[case_a.id, case_b.id])
    client_for(client, users["manager"])

    for case in (case_a, case_b):
        html = client.get(reverse("web:case", args=[case.serial])).content.decode()
        assert "A late installation record is moving readings to or from this case" in html
        assert f"Re-attributing readings after a late record ({installation})" in html
        assert window_text(reattribution, site) in html

    untouched = site.test_cases[(1, 3)]
    html = client.get(reverse("web:case", args=[untouched.serial])).content.decode()
    assert "A late installation record" not in html and "Re-attributing" not in html


def test_a_finished_reattribution_shows_what_moved_where_on_both_timelines(client, users, site):
    case_a, case_b, installation = moved_board(site)
    reattribution = ReattributionFactory(
        installation=installation,
        cases=[case_a.id, case_b.id],
        status=Reattribution.Status.DONE,
        finished_at=timezone.now(),
        moves={f"{case_a.id}>{case_b.id}": 2040, f"{case_a.id}>": 3},
        readings_moved=2040,
        readings_quarantined=3,
        discrepancies_resolved=1,
    )
    client_for(client, users["manager"])

    for case in (case_a, case_b):
        response = client.get(reverse("web:case", args=[case.serial]))
        html = response.content.decode()
        assert "A late installation record is moving" not in html
        [entry] = [e for e in response.context["timeline"] if e.title.startswith("Readings re-attributed")]
        assert f"2,040 moved from case {case_a.serial} to case {case_b.serial}" in entry.detail
        assert f"3 of case {case_a.serial} quarantined" in entry.detail
        assert "discrepancies: 1 resolved, 0 opened" in entry.detail
        assert entry.window == (reattribution.changed_at, reattribution.window_end)
        assert f'<span class="detail">{window_text(reattribution, site)}</span>' in html


def test_reattributions_are_read_only_in_the_admin(client, users, site):
    case_a, case_b, installation = moved_board(site)
    reattribution = ReattributionFactory(installation=installation, cases=[case_a.id, case_b.id])
    client_for(client, users["admin"])

    changelist = client.get(reverse("admin:telemetry_reattribution_changelist"))
    assert changelist.status_code == 200
    assert installation.component.serial in changelist.content.decode()
    assert client.get(reverse("admin:telemetry_reattribution_add")).status_code == 403
    change = client.get(reverse("admin:telemetry_reattribution_change", args=[reattribution.pk]))
    assert change.status_code == 200 and b'name="_save"' not in change.content
