"""The monitoring pages by role: fleet, site, case, their JSON and live endpoints."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from assets import services
from assets.constants import CELL_BLOCKS_PER_CASE, CELL_NUMBERS
from assets.models import Kind
from assets.services import component_remove
from telemetry.models import Discrepancy, PackReading, PackState
from telemetry.rollups import refresh_all_rollups
from tests.factories import UserFactory, build_site
from tests.web.conftest import add_mppt, add_readings, client_for, pack_values
from web.forms import RangeForm

pytestmark = pytest.mark.django_db


def monitoring_urls(site):
    case = site.test_cases[(1, 1)]
    return [
        reverse("web:fleet"),
        reverse("web:site", args=[site.pk]),
        reverse("web:site-live", args=[site.pk]),
        reverse("web:site-series", args=[site.pk]),
        reverse("web:case", args=[case.serial]),
        reverse("web:case-series", args=[case.serial]),
        reverse("web:discrepancies"),
    ]


def test_anonymous_users_are_sent_to_login(client, site):
    for url in [*monitoring_urls(site), reverse("web:field-home")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login") + "?next="), url


@pytest.mark.parametrize("role", ["manager", "field", "warehouse", "admin"])
def test_roles_with_view_permissions_open_monitoring_pages(client, users, site, role):
    client_for(client, users[role])
    for url in monitoring_urls(site):
        assert client.get(url).status_code == 200, url


def test_a_user_without_a_role_gets_a_403_page(client, users, site):
    client_for(client, users["nobody"])
    for url in monitoring_urls(site):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"You cannot open this page" in response.content
    assert b"no role yet" in client.get("/").content


@pytest.mark.parametrize(
    ("role", "start", "links", "hidden"),
    [
        ("manager", "/fleet/", ["Fleet", "Alarms", "Discrepancies", "API docs"], ["Field work", "Admin"]),
        ("field", "/field/", ["Field work", "Alarms", "Discrepancies", "API docs"], ["Fleet", "Admin"]),
        ("warehouse", None, ["Admin", "API docs"], ["Fleet", "Field work", "Alarms"]),
        ("admin", "/fleet/", ["Fleet", "Field work", "Alarms", "Discrepancies", "Admin", "API docs"], []),
    ],
)
def test_navigation_and_start_page_follow_the_role(client, users, role, start, links, hidden):
    client_for(client, users[role])
    response = client.get("/")
    if start:
        assert response.status_code == 302 and response.url == start
        response = client.get(start)
    nav = response.content.decode().split('aria-label="Main"')[1].split("</nav>")[0]
    for label in links:
        assert f">{label}</a>" in nav
    for label in hidden:
        assert f">{label}</a>" not in nav


def test_fleet_lists_each_site_with_its_figures(client, users, site):
    add_readings(site, minutes=5, weak_cell=3)
    add_mppt(site, minutes=2)
    client_for(client, users["manager"])
    response = client.get(reverse("web:fleet"))
    row = next(r for r in response.context["rows"] if r.site == site)
    assert row.packs == 4
    assert row.status == "online"
    assert row.cell_min == pytest.approx(3.75, abs=1e-4)
    assert row.cell_max == pytest.approx(3.80, abs=1e-4)
    assert row.delta_max == pytest.approx(0.05, abs=1e-4)
    assert row.temp_max == pytest.approx(32.5)
    assert row.pv_power == pytest.approx(48 * 6 + 47 * 5, rel=1e-4)
    assert "Chiang Mai North" in response.content.decode()


def test_open_cells_count_in_no_lowest_or_highest_cell_spread_or_median(client, users, site):
    # Eight of 14 cells are open and read about 0 V: they would be the lowest cells and the median.
    add_readings(site, minutes=5, weak_cell=3, open_cells=[1, 2, 4, 5, 6, 7, 8, 9])
    all_open = site.test_cases[(1, 4)]
    PackState.objects.filter(case=all_open).update(
        cell_volts=[0.01] * CELL_BLOCKS_PER_CASE, open_cells=list(CELL_NUMBERS)
    )
    client_for(client, users["manager"])

    fleet = client.get(reverse("web:fleet"))
    row = next(r for r in fleet.context["rows"] if r.site == site)
    assert row.cell_min == pytest.approx(3.75, abs=1e-4) and row.cell_max == pytest.approx(3.80, abs=1e-4)
    assert row.delta_max == pytest.approx(0.05, abs=1e-4)
    assert '<td class="num">3.750</td>' in fleet.content.decode()

    response = client.get(reverse("web:site", args=[site.pk]))
    figures = [(dock.cell_min, dock.cell_max, dock.cell_delta) for dock in response.context["docks"]]
    assert figures[:3] == [(pytest.approx(3.75), pytest.approx(3.80), pytest.approx(0.05, abs=1e-4))] * 3
    assert figures[3] == (None, None, None)
    html = response.content.decode()
    assert (
        html.count(
            '<td class="num">3.750</td>\n      <td class="num">3.800</td>\n      <td class="num">50</td>'
        )
        == 3
    )
    assert '<td class="num">—</td>\n      <td class="num">—</td>\n      <td class="num">—</td>' in html
    assert response.context["heatmap"]["median"] == pytest.approx(3.80)
    assert "(3.800 V)" in html


def test_fleet_puts_stale_sites_first_and_searches(client, users, site, settings):
    from tests.factories import build_site

    quiet = build_site(cabinets=1, docks=4, name="Quiet Hill")
    add_readings(site, minutes=2)
    client_for(client, users["manager"])
    rows = client.get(reverse("web:fleet")).context["rows"]
    assert [row.site for row in rows] == [quiet, site]
    assert [row.status for row in rows] == ["stale", "online"]
    rows = client.get(reverse("web:fleet"), {"sort": "name"}).context["rows"]
    assert [row.site for row in rows] == [site, quiet]
    rows = client.get(reverse("web:fleet"), {"q": "quiet"}).context["rows"]
    assert [row.site for row in rows] == [quiet]


def test_fleet_search_matches_name_pms_id_or_location_as_the_sites_api_does(client, users, site):
    south = build_site(cabinets=1, docks=4, name="Hat Yai South", pms_id="PMS-12-004", location="Songkhla")
    client_for(client, users["manager"])

    for query, expected in [
        ("pms-12", [south]),
        ("SONGKHLA", [south]),
        (" north ", [site]),
        ("", [site, south]),
    ]:
        response = client.get(reverse("web:fleet"), {"q": query, "sort": "name"})
        assert [row.site for row in response.context["rows"]] == expected, query
    assert 'name="q" value="north"' in client.get(reverse("web:fleet"), {"q": " north "}).content.decode()
    assert "No site matches." in client.get(reverse("web:fleet"), {"q": "nowhere"}).content.decode()


def test_fleet_is_paged_keeping_the_search_and_sort(client, users, site):
    from tests.factories import SiteFactory
    from web.views import FLEET_PAGE_SIZE

    SiteFactory.create_batch(FLEET_PAGE_SIZE + 5, location="Krabi")
    client_for(client, users["manager"])
    first = client.get(reverse("web:fleet"), {"q": "krabi", "sort": "name"})
    names = [row.site.name for row in first.context["rows"]]
    assert len(names) == FLEET_PAGE_SIZE and names == sorted(names, key=str.lower)
    html = first.content.decode()
    assert f"Page 1 of 2 ({FLEET_PAGE_SIZE + 5} sites)" in html
    assert 'href="?q=krabi&amp;sort=name&amp;page=2">Next</a>' in html
    second = client.get(reverse("web:fleet"), {"q": "krabi", "sort": "name", "page": 2})
    rest = [row.site.name for row in second.context["rows"]]
    assert len(rest) == 5 and rest[0] > names[-1] and site.name not in rest
    assert all(row.packs == 0 for row in second.context["rows"])
    # A page number out of range shows the last page, not an error.
    assert client.get(reverse("web:fleet"), {"q": "krabi", "page": 99}).context["page"].number == 2


def test_fleet_query_count_does_not_grow_with_sites(client, users, django_assert_max_num_queries):
    from tests.factories import build_site

    client_for(client, users["manager"])
    first = build_site(cabinets=1, docks=4)
    add_readings(first, minutes=1)
    with django_assert_max_num_queries(15) as one_site:
        client.get(reverse("web:fleet"))
    for _ in range(4):
        add_readings(build_site(cabinets=2, docks=4), minutes=1)
    with django_assert_max_num_queries(len(one_site.captured_queries)):
        response = client.get(reverse("web:fleet"))
    assert len(response.context["rows"]) == 5


@pytest.mark.parametrize("sort", ["status", "packs", "name"])
def test_fleet_pack_counts_follow_installs_swaps_and_removals_backdated_or_not(client, users, sort):
    """The page counts the cases installed now from the installations, on the page's sites only (sorted by
    status or name) or on every site (sorted by packs): right after each change, backdated ones too, on a
    later page as on the first."""
    from tests.factories import CaseFactory, SiteFactory
    from web.views import FLEET_PAGE_SIZE

    now = timezone.now()
    site = build_site(cabinets=2, docks=4, name="Zulu Point", at=now - timedelta(days=10))
    SiteFactory.create_batch(FLEET_PAGE_SIZE)  # sorted by name, the site is on page 2
    client_for(client, users["manager"])

    def packs():
        pages = [client.get(reverse("web:fleet"), {"sort": sort, "page": number}) for number in (1, 2)]
        rows = [row for page in pages for row in page.context["rows"]]
        [row] = [row for row in rows if row.site == site]
        assert sorted(row.packs for row in rows) == [0] * FLEET_PAGE_SIZE + [row.packs]
        return row.packs

    assert packs() == 8
    services.component_remove(component=site.test_cases[(1, 1)], user=None, reason="test")
    assert packs() == 7
    # Backdated: a removal two days ago, an install yesterday, both recorded now.
    services.component_remove(
        component=site.test_cases[(1, 2)], user=None, reason="test", at=now - timedelta(days=2)
    )
    assert packs() == 6
    services.component_install(
        component=CaseFactory(),
        position=site.test_docks[(1, 2)],
        user=None,
        reason="test",
        at=now - timedelta(days=1),
        confirm_incomplete=True,
    )
    assert packs() == 7
    services.component_swap(
        position=site.test_docks[(2, 1)],
        old_component=site.test_cases[(2, 1)],
        new_component=CaseFactory(),
        user=None,
        reason="test",
        old_component_status="faulty",
        confirm_incomplete=True,
    )
    assert packs() == 7
    # A cabinet taken off the site takes its busbar's cases with it.
    cabinet = services.site_position_get_or_create(site=site, kind=Kind.CABINET, number=2)
    services.component_remove(
        component=cabinet.installations.get(removed_at=None).component, user=None, reason="test"
    )
    assert packs() == 3


def test_site_page_shows_the_drawing_heatmap_and_pack_table(client, users, site):
    add_readings(site, minutes=5, weak_cell=3, open_cells=[6], fet_open=[2])
    client_for(client, users["manager"])
    response = client.get(reverse("web:site", args=[site.pk]))
    html = response.content.decode()
    case = site.test_cases[(1, 2)]
    assert f'href="{reverse("web:case", args=[case.serial])}"' in html
    assert html.count('class="dock state-ok"') == 4
    heatmap = response.context["heatmap"]
    assert len(heatmap["packs"]) == 4 and len(heatmap["cells"]) == 4 * CELL_BLOCKS_PER_CASE
    weak = [c for c in heatmap["cells"] if c[0] == 2]
    assert all(c[2] == pytest.approx(-50.0, abs=0.1) for c in weak)
    assert all(c[4] for c in heatmap["cells"] if c[0] == 5)
    assert heatmap["fet_open"] == [[2]] * 4
    assert "Asia/Bangkok" in html


def test_site_page_marks_stale_and_empty_docks(client, users, settings):
    from tests.factories import build_site

    site = build_site(cabinets=1, docks=4)
    add_readings(site, minutes=1)
    old_case = site.test_cases[(1, 4)]
    from telemetry.models import PackState

    PackState.objects.filter(case=old_case).update(time="2020-01-01T00:00:00Z")
    from assets.services import component_remove

    component_remove(component=site.test_cases[(1, 3)], user=None, reason="test")
    client_for(client, users["manager"])
    docks = client.get(reverse("web:site", args=[site.pk])).context["docks"]
    assert [dock.state for dock in docks] == ["ok", "ok", "empty", "stale"]


def test_site_page_query_count_does_not_grow_with_packs(client, users, django_assert_max_num_queries):
    from tests.factories import build_site

    client_for(client, users["manager"])
    small = build_site(cabinets=1, docks=4)
    add_readings(small, minutes=1)
    add_mppt(small, minutes=1)
    with django_assert_max_num_queries(30) as small_page:
        client.get(reverse("web:site", args=[small.pk]))
    large = build_site(cabinets=2, docks=12)
    add_readings(large, minutes=1)
    add_mppt(large, minutes=1)
    with django_assert_max_num_queries(len(small_page.captured_queries)):
        response = client.get(reverse("web:site", args=[large.pk]))
    assert len(response.context["docks"]) == 24


def test_site_live_fragment_carries_the_latest_state(client, users, site):
    add_readings(site, minutes=1, volts=51.25)
    add_mppt(site, minutes=1)
    client_for(client, users["manager"])
    html = client.get(reverse("web:site-live", args=[site.pk])).content.decode()
    assert "<html" not in html
    assert "51.25" in html and 'id="heatmap-data"' in html
    assert '<td class="num">288</td><td class="num">235</td>' in html


def test_site_page_says_how_fresh_its_data_is(client, users, site):
    client_for(client, users["manager"])
    assert "no data yet" in client.get(reverse("web:site", args=[site.pk])).content.decode()
    add_readings(site, minutes=1, end=timezone.now() - timedelta(seconds=42))
    html = client.get(reverse("web:site-live", args=[site.pk])).content.decode()
    assert re.search(r"data as of <time datetime=\S+>4[2-9] s ago</time>", html), html[:400]


def test_site_series_returns_at_most_1000_points_per_series(client, users, site):
    add_readings(site, minutes=60, step_seconds=5)
    add_mppt(site, minutes=60)
    client_for(client, users["manager"])
    data = client.get(reverse("web:site-series", args=[site.pk]), {"range": "1h"}).json()
    assert data["source"] == "raw"
    assert 700 <= len(data["packs"]["t"]) <= 1000
    assert data["packs"]["volts_avg"][-1] == pytest.approx(53.2, abs=0.01)
    assert [device["kind"] for device in data["devices"]] == ["mppt"]
    assert data["devices"][0]["pv1_power"][-1] == pytest.approx(288.0)


def test_series_range_picks_the_rollup_source(client, users, site):
    client_for(client, users["manager"])
    url = reverse("web:site-series", args=[site.pk])
    assert client.get(url, {"range": "24h"}).json()["source"] == "1m"
    assert client.get(url, {"range": "30d"}).json()["source"] == "1h"


def test_series_and_pages_say_where_data_begins(client, users, site):
    now = timezone.now()
    add_readings(site, minutes=24 * 60, step_seconds=600, end=now)
    refresh_all_rollups(start=now - timedelta(days=2), end=now + timedelta(minutes=1))
    client_for(client, users["manager"])
    first_reading = now - timedelta(minutes=24 * 60 - 10)
    first_hour = first_reading.replace(minute=0, second=0, microsecond=0)

    for url in [
        reverse("web:site-series", args=[site.pk]),
        reverse("web:case-series", args=[site.test_cases[(1, 1)].serial]),
    ]:
        data = client.get(url, {"range": "7d"}).json()
        assert data["data_start"] == first_hour.timestamp() * 1000 > data["start"]
    page = client.get(reverse("web:site", args=[site.pk])).content.decode()
    with timezone.override(site.time_zone):
        assert f"Readings from {timezone.localtime(first_hour):%Y-%m-%d %H:%M} on." in page


def test_series_rejects_a_bad_custom_range_with_field_messages(client, users, site):
    client_for(client, users["manager"])
    url = reverse("web:site-series", args=[site.pk])
    response = client.get(url, {"range": "custom", "start": "2026-01-02T00:00", "end": "2026-01-01T00:00"})
    assert response.status_code == 400
    assert response.json()["errors"]["end"] == ["The end must be after the start."]
    response = client.get(url, {"range": "custom", "start": "yesterday"})
    assert set(response.json()["errors"]) == {"start", "end"}


def test_case_page_shows_identity_location_timeline_and_cell_chart_data(client, users, site):
    case = site.test_cases[(1, 2)]
    add_readings(site, minutes=10, step_seconds=5, weak_cell=3)
    client_for(client, users["manager"])
    response = client.get(reverse("web:case", args=[case.serial]))
    html = response.content.decode()
    assert f"Case {case.serial}" in html
    assert "PMS-77-001 C1-D2" in html
    assert "Cell block 1" in html or "cell block 1" in html
    titles = [entry.title for entry in response.context["timeline"]]
    assert "Installed at PMS-77-001 C1-D2" in titles
    data = client.get(reverse("web:case-series", args=[case.serial]), {"range": "life"}).json()
    assert len(data["cells"]["t"]) >= 100
    assert data["cells"]["cell_3"][-1] == pytest.approx(3.75, abs=1e-3)
    assert data["cells"]["cell_1"][-1] == pytest.approx(3.80, abs=1e-3)


@pytest.mark.parametrize(("range_", "source"), [("24h", "1m"), ("7d", "1m"), ("30d", "1h"), ("life", "1m")])
def test_the_per_cell_chart_covers_the_whole_range_from_the_rollups_the_other_charts_read(
    client, users, site, range_, source
):
    case = site.test_cases[(1, 2)]
    now = timezone.now()
    add_readings(site, minutes=3 * 24 * 60, step_seconds=600, end=now, weak_cell=3)
    refresh_all_rollups(start=now - timedelta(days=4), end=now + timedelta(minutes=1))
    client_for(client, users["manager"])

    data = client.get(reverse("web:case-series", args=[case.serial]), {"range": range_}).json()

    assert data["source"] == source
    cells = data["cells"]
    assert cells["t"] == data["packs"]["t"] and 0 < len(cells["t"]) <= 1000
    first_in_range = now - min(timedelta(days=3), RangeForm.PRESETS.get(range_, timedelta(days=3)))
    assert min(cells["t"]) <= (first_in_range + timedelta(hours=1)).timestamp() * 1000
    assert cells["cell_3"] == [pytest.approx(3.75, abs=1e-3)] * len(cells["t"])
    assert cells["cell_1"] == [pytest.approx(3.80, abs=1e-3)] * len(cells["t"])


def test_the_per_cell_chart_follows_the_case_through_every_site_it_was_in(client, users, site):
    case = site.test_cases[(1, 2)]
    elsewhere = build_site(cabinets=1, docks=4)
    now = timezone.now()
    PackReading.objects.bulk_create(
        PackReading(
            case=case,
            site=elsewhere,
            time=now - timedelta(days=5, minutes=minute),
            utc_offset_minutes=420,
            **pack_values(7, cell=3.60),
        )
        for minute in range(30)
    )
    add_readings(site, minutes=30, end=now, cell=3.90)
    refresh_all_rollups(start=now - timedelta(days=6), end=now + timedelta(minutes=1))
    client_for(client, users["manager"])

    data = client.get(reverse("web:case-series", args=[case.serial]), {"range": "life"}).json()

    volts = [value for value in data["cells"]["cell_1"] if value is not None]
    assert volts[0] == pytest.approx(3.60, abs=1e-3) and volts[-1] == pytest.approx(3.90, abs=1e-3)


def test_unknown_case_is_a_404_page(client, users):
    client_for(client, users["manager"])
    response = client.get(reverse("web:case", args=["NOPE"]))
    assert response.status_code == 404
    assert b"Not found" in response.content


def raise_alarm(site, case, severity="alarm"):
    from django.utils import timezone

    from alarms.models import Alarm, AlarmKind

    now = timezone.now()
    return Alarm.objects.create(
        site=site,
        case=case,
        kind=AlarmKind.CELL_DELTA,
        severity=severity,
        state=Alarm.State.ACTIVE,
        condition_since=now,
        raised_at=now,
        peak_value=0.2,
        last_value=0.2,
        last_seen_at=now,
        message="Cell spread 200 mV",
    )


def test_active_alarms_colour_docks_and_put_the_site_first(client, users, site):
    from tests.factories import build_site

    calm = build_site(cabinets=1, docks=4, name="Aaa Calm")
    add_readings(site, minutes=1)
    add_readings(calm, minutes=1)
    raise_alarm(site, site.test_cases[(1, 1)])
    raise_alarm(site, site.test_cases[(1, 2)], severity="warning")
    client_for(client, users["manager"])
    rows = client.get(reverse("web:fleet")).context["rows"]
    assert [(row.site, row.status, row.alarms.total) for row in rows] == [
        (site, "alarm", 2),
        (calm, "online", 0),
    ]
    response = client.get(reverse("web:site", args=[site.pk]))
    assert [dock.state for dock in response.context["docks"]] == ["alarm", "warning", "ok", "ok"]
    assert "Cell spread 200 mV" in response.content.decode()
    case_page = client.get(reverse("web:case", args=[site.test_cases[(1, 1)].serial])).content.decode()
    assert "Cell voltage spread" in case_page


def test_case_without_readings_says_so_instead_of_empty_charts(client, users, site):
    client_for(client, users["manager"])
    html = client.get(reverse("web:case", args=[site.test_cases[(1, 1)].serial])).content.decode()
    assert "No reading from this case has been stored yet." in html
    assert 'id="chart-cells"' not in html


def test_a_dock_has_one_name_everywhere_and_its_reported_number_once(client, users):
    """Cabinet 2's dock 3 is "C2-D3" on the site page, in the heatmap and in the discrepancy list; the
    PMS-wide number it reports (15) is shown beside it once, explained."""
    site = build_site(cabinets=2, docks=4, pms_id="PMS-76-001")
    add_readings(site, minutes=2)
    case = site.test_cases[(1, 1)]
    Discrepancy.objects.create(
        case=case,
        kind=Discrepancy.Kind.OTHER_DOCK,
        observed_site=site,
        observed_dock=15,
        recorded_site=site,
        recorded_dock=1,
        first_seen=timezone.now() - timedelta(hours=1),
        last_seen=timezone.now(),
        sample_count=3,
    )
    client_for(client, users["manager"])
    response = client.get(reverse("web:site", args=[site.pk]))
    html = response.content.decode()
    assert '<span class="dock-number">C2-D3</span>' in html and "<td>C2-D3</td>" in html
    assert f"{site.test_cases[(2, 3)].serial} · C2-D3" in response.context["heatmap"]["packs"]
    assert "·3<" not in html and "Dock 3" not in html
    listing = client.get(reverse("web:discrepancies")).content.decode()
    assert "PMS-76-001 C2-D3 (reported as dock 15)" in listing
    assert "Asia/Bangkok (UTC+07), 3 samples" in listing  # each card names its site's zone
    assert "<dt>Recorded at</dt><dd>PMS-76-001 C1-D1</dd>" in listing


def test_every_time_is_local_in_one_format_with_the_zone_named_once(client, users, site, settings):
    """A site's page in the site's zone; a case on no site, and the admin, in the warehouse's zone (the
    default), never UTC. The zone is named once, in the page's foot."""
    settings.TIME_ZONE = "Europe/Berlin"
    case = site.test_cases[(1, 1)]
    component_remove(component=case, user=None, reason="to the warehouse")
    client_for(client, users["manager"])
    site_page = client.get(reverse("web:site", args=[site.pk])).content.decode()
    assert "Times are in Asia/Bangkok (UTC+07)." in site_page
    assert re.sub(r"<[^>]*>", "", site_page).count("Asia/Bangkok") == 1  # named once in the text
    case_page = client.get(reverse("web:case", args=[case.serial])).content.decode()
    assert "Times are in Europe/Berlin (UTC+01)." in case_page and "UTC+07" not in case_page
    removed = timezone.localtime(case.events.latest("occurred_at").occurred_at, ZoneInfo("Europe/Berlin"))
    assert f"{removed:%Y-%m-%d %H:%M}</time>" in case_page
    export = client.get(reverse("web:case-export", args=[case.serial]), {"range": "1h"})
    assert export["Content-Disposition"].endswith('+0100.csv"')


def test_the_admin_shows_times_in_the_warehouse_zone_and_format(client, site, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    client.force_login(UserFactory(username="wanda", is_staff=True, groups=["Warehouse"]))
    page = client.get("/admin/assets/installation/").content.decode()
    installed = timezone.localtime(
        site.test_cases[(1, 1)].installations.get().installed_at, ZoneInfo("Europe/Berlin")
    )
    assert f"{installed:%Y-%m-%d %H:%M}" in page
    assert "Times are in Europe/Berlin (UTC+01)." in page


def test_fleet_says_how_long_ago_in_the_one_duration_format(client, users, site):
    add_readings(site, minutes=1, end=timezone.now() - timedelta(hours=6, minutes=21, seconds=10))
    client_for(client, users["manager"])
    page = client.get(reverse("web:fleet")).content.decode()
    assert "6 h 21 min ago" in page and "Stale: no data for 5 min." in page


def test_the_case_timeline_is_in_the_order_things_happened_and_a_late_record_shows_both_times(client, users):
    now = timezone.now()
    site = build_site(cabinets=1, docks=4, at=now - timedelta(days=40))
    engineer = users["field"]
    [case] = services.components_receive(
        kind=Kind.CASE, serials=["LATE-0001"], user=engineer, received_on=(now - timedelta(days=35)).date()
    )
    services.component_remove(
        component=site.test_cases[(1, 1)], user=engineer, reason="weak cell", at=now - timedelta(days=30)
    )
    services.component_install(
        confirm_incomplete=True,
        component=case,
        position=site.test_docks[(1, 1)],
        user=engineer,
        at=now - timedelta(days=30),
    )
    client_for(client, users["manager"])

    response = client.get(reverse("web:case", args=[case.serial]))

    timeline = response.context["timeline"]
    assert [entry.title for entry in timeline] == [f"Installed at {site.pms_id} C1-D1", "Received"]
    installed, received = timeline
    assert timezone.localtime(received.at).date() == (now - timedelta(days=35)).date()
    html = response.content.decode()
    zone = ZoneInfo(site.time_zone)
    assert (
        f"happened {installed.at.astimezone(zone):%Y-%m-%d %H:%M}, "
        f"recorded {installed.recorded_at.astimezone(zone):%Y-%m-%d %H:%M} "
        f"by {engineer.username}"
    ) in html


def test_a_board_replaced_inside_a_case_by_a_late_record_shows_both_times_on_the_case_timeline(client, users):
    """The parts fitted inside a case come from installation rows: their time of entry is that of the
    installed and removed events written with them."""
    from tests.factories import AcqBoardFactory, ComponentFactory

    now = timezone.now()
    site = build_site(cabinets=1, docks=4, at=now - timedelta(days=40))
    case, engineer = site.test_cases[(1, 1)], users["field"]
    old, new = AcqBoardFactory(serial="ACQ-OLD"), AcqBoardFactory(serial="ACQ-NEW")
    board_position = services.child_position_get(parent=case, kind=Kind.ACQ_BOARD)
    services.component_install(
        component=old, position=board_position, user=engineer, at=now - timedelta(days=20)
    )
    # Replaced three days ago, entered now.
    services.component_swap(
        position=board_position,
        old_component=old,
        new_component=new,
        user=engineer,
        reason="dead board",
        old_component_status="faulty",
        at=now - timedelta(days=3),
    )
    fet_board = ComponentFactory(kind=Kind.FET_BOARD, serial="FET-NOW")
    services.component_install(
        component=fet_board,
        position=services.child_position_get(parent=case, kind=Kind.FET_BOARD),
        user=engineer,
    )
    client_for(client, users["manager"])

    response = client.get(reverse("web:case", args=[case.serial]))

    timeline = response.context["timeline"]
    entries = {entry.title.split(" in ")[0].split(" from ")[0]: entry for entry in timeline}
    installed = entries["Acquisition board ACQ-NEW installed"]
    removed = entries["Acquisition board ACQ-OLD removed"]
    assert installed.at == removed.at == now - timedelta(days=3)
    assert installed.recorded_late and removed.recorded_late
    assert installed.recorded_at - now < timedelta(minutes=1) and installed.user == engineer
    assert entries["Acquisition board ACQ-OLD installed"].recorded_late
    assert not entries["FET board FET-NOW installed"].recorded_late
    html = response.content.decode()
    for entry in (installed, removed):
        item = html.split(f"<strong>{entry.title}</strong>")[1].split("</li>")[0]
        assert "happened " in item and ", recorded " in item and f"by {engineer.username}" in item
    item = html.split(f"<strong>{entries['FET board FET-NOW installed'].title}</strong>")[1].split("</li>")[0]
    assert "recorded" not in item and f"by {engineer.username}" in item
    # The site page's recent installs and swaps read installation rows too.
    gone = site.test_cases[(1, 2)]
    services.component_remove(component=gone, user=engineer, reason="test", at=now - timedelta(days=2))
    changes = client.get(reverse("web:site", args=[site.pk])).context["changes"]
    [removal] = [entry for entry in changes if entry.title.endswith(f"{gone.serial} removed from C1-D2")]
    assert removal.recorded_late and removal.user == engineer


def test_the_site_drawing_shows_the_case_telemetry_sees_beside_the_recorded_one(client, users, site):
    from telemetry.models import Discrepancy, PackState
    from tests.factories import CaseFactory

    add_readings(site, minutes=2)
    recorded, stray = site.test_cases[(1, 2)], CaseFactory(serial="STRAY-9")
    now = timezone.now()
    PackState.objects.filter(case=site.test_cases[(1, 4)]).update(time=now - timedelta(days=1))
    PackState.objects.create(
        case=stray, site=site, time=now, utc_offset_minutes=420, updated_at=now, **pack_values(2)
    )
    discrepancy = Discrepancy.objects.create(
        case=stray,
        kind=Discrepancy.Kind.OTHER_CASE,
        observed_site=site,
        observed_dock=2,
        first_seen=now - timedelta(minutes=5),
        last_seen=now,
        sample_count=5,
    )
    client_for(client, users["field"])

    response = client.get(reverse("web:site", args=[site.pk]))

    html = response.content.decode()
    drawing = html.split('data-pms-dock="2"')[1].split("</li>")[0]
    assert recorded.serial in drawing and "Reporting: <strong>STRAY-9</strong>" in drawing
    assert f'href="/discrepancies/#discrepancy-{discrepancy.pk}"' in drawing
    swap_link = drawing.split('">record this swap')[0].rsplit('href="', 1)[1].replace("&amp;", "&")
    assert swap_link.startswith(reverse("web:field-change", args=[site.test_docks[(1, 2)].pk, "replace"]))
    assert "serial=STRAY-9" in swap_link and f"discrepancy={discrepancy.pk}" in swap_link
    assert "reporting from this dock: <a" in html and ">STRAY-9</a>" in html
    heatmap = response.context["heatmap"]
    assert heatmap["packs"][1] == f"{recorded.serial} · C1-D2 (reporting: STRAY-9)"
    assert heatmap["packs"][3].endswith("· stale")
    assert {c[2] for c in heatmap["cells"] if c[1] == 3} == {None}
    assert all(c[2] is not None for c in heatmap["cells"] if c[1] != 3 and not c[4])


def test_a_dock_recorded_empty_lists_the_case_telemetry_sees_in_it_as_observed(client, users, site):
    """The pack table and the heatmap show the observed case of a dock recorded empty, marked as observed,
    with a link to its discrepancy; a stale one is marked and left out of the colour scale."""
    add_readings(site, minutes=2)
    now = timezone.now()
    quiet, seen, stale = site.test_cases[(1, 1)], site.test_cases[(1, 3)], site.test_cases[(1, 4)]
    for case in (quiet, seen, stale):  # recorded as taken to the warehouse
        component_remove(component=case, user=None, reason="to the warehouse")
    PackState.objects.filter(case__in=[quiet, stale]).update(time=now - timedelta(days=1))
    PackState.objects.filter(case=seen).update(time=now)
    discrepancies = {
        case: Discrepancy.objects.create(
            case=case,
            kind=Discrepancy.Kind.NOT_INSTALLED,
            observed_site=site,
            observed_dock=dock,
            first_seen=now - timedelta(days=2),
            last_seen=now,
            sample_count=5,
        )
        for case, dock in ((seen, 3), (stale, 4))
    }
    client_for(client, users["manager"])

    response = client.get(reverse("web:site", args=[site.pk]))

    html = response.content.decode()
    table = html.split('<table class="data packs">')[1].split("</table>")[0]
    rows = table.split("<tbody>")[1].split("</tr>")[:-1]
    assert [row.split("<td>")[1].split("</td>")[0] for row in rows] == ["C1-D2", "C1-D3", "C1-D4"]
    for row, case in zip(rows[1:], (seen, stale), strict=True):
        assert f'href="{reverse("web:case", args=[case.serial])}">{case.serial}</a>' in row
        assert "observed, not recorded: the dock is recorded empty" in row
        assert f'href="{reverse("web:discrepancies")}#discrepancy-{discrepancies[case].pk}"' in row
        assert 'class="badge state-empty">Empty<' in row
    assert "; stale" not in rows[1] and "; stale" in rows[2]
    assert quiet.serial not in table
    heatmap = response.context["heatmap"]
    assert heatmap["packs"] == [
        f"{site.test_cases[(1, 2)].serial} · C1-D2",
        f"{seen.serial} · C1-D3 (observed; recorded empty)",
        f"{stale.serial} · C1-D4 (observed; recorded empty) · stale",
    ]
    assert all(c[2] is not None for c in heatmap["cells"] if c[1] < 2 and not c[4])
    assert {c[2] for c in heatmap["cells"] if c[1] == 2} == {None}
    # The drawing keeps the recorded layout: the docks are empty, each marked with what telemetry sees.
    drawing = html.split('data-pms-dock="3"')[1].split("</li>")[0]
    assert "Empty" in drawing and f"Reporting: <strong>{seen.serial}</strong>" in drawing
