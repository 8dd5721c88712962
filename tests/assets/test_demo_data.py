"""`manage.py demo_data` builds two complete demo sites once, and is a quick no-op on every later run."""

import stat
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assets.models import Component, Installation, Kind, Site, Status
from assets.selectors import (
    case_holding_board_at,
    case_in_pms_dock_at,
    component_in_position_at,
    installations_of,
    location_of_component,
)
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

# From the gateway sample payloads (shared/samples): PMS-01-001 reports pack 0241 in dock 1 and 0242 in
# dock 2, MPPT IT6415AD-01-001 and inverter SPI-B2-01-001. They must resolve against the demo site.
SAMPLE_PACKS = {1: "0241", 2: "0242"}


def log_in(username, password):
    """The user the login page would let in (django-axes needs the login request)."""
    return authenticate(RequestFactory().post("/accounts/login/"), username=username, password=password)


def run_demo_data(**options):
    out = StringIO()
    call_command("demo_data", stdout=out, **options)
    return out.getvalue()


def installed_children(component, kind):
    return sorted(
        (i.position.number, i.component)
        for i in Installation.objects.filter(
            position__parent=component, position__kind=kind, removed_at__isnull=True
        ).select_related("position", "component")
    )


def site_layout(site):
    """{(cabinet number, dock number): case} now, checking every cabinet holds its controller and busbar."""
    layout = {}
    for cabinet_number, cabinet in installed_children_on_site(site, Kind.CABINET):
        [(_, controller)] = installed_children(cabinet, Kind.CONTROLLER)
        assert controller.configured_id == site.pms_id
        [(_, busbar)] = installed_children(cabinet, Kind.BUSBAR)
        for dock_number, case in installed_children(busbar, Kind.CASE):
            layout[(cabinet_number, dock_number)] = case
        assert len(installed_children(busbar, Kind.CASE)) == busbar.dock_count
    return layout


def installed_children_on_site(site, kind):
    return sorted(
        (i.position.number, i.component)
        for i in Installation.objects.filter(
            position__site=site, position__kind=kind, removed_at__isnull=True
        ).select_related("position", "component")
    )


def devices_on_sites(kind):
    """(PMS id, device id) of each MPPT or inverter installed on a site now."""
    return sorted(
        (site.pms_id, device.configured_id)
        for site in Site.objects.all()
        for _, device in installed_children_on_site(site, kind)
    )


def row_counts():
    return Component.objects.count(), Installation.objects.count(), get_user_model().objects.count()


def assert_fully_assembled(case):
    blocks = installed_children(case, Kind.CELL_BLOCK)
    assert [number for number, _ in blocks] == list(range(1, 15)), case
    [(_, board)] = installed_children(case, Kind.ACQ_BOARD)
    [(_, fet_board)] = installed_children(case, Kind.FET_BOARD)
    assert [number for number, _ in installed_children(fet_board, Kind.FET)] == [1, 2]
    return board


def test_demo_data_builds_two_complete_sites_once_then_only_ensures_users(tmp_path):
    password_file = tmp_path / "secrets" / "admin_password"
    output = run_demo_data(admin_password_file=password_file)

    # The demo users, with one password generated into a file only its owner can read.
    password = password_file.read_text().strip()
    assert len(password) >= 12
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert f"password: {password}" in output
    admin = log_in(username="admin", password=password)
    assert admin.is_superuser
    for username, group in (
        ("warehouse", "Warehouse"),
        ("engineer", "Field engineer"),
        ("manager", "Manager"),
    ):
        user = log_in(username=username, password=password)
        assert [g.name for g in user.groups.all()] == [group]
        assert not user.is_superuser

    doi_saket = Site.objects.get(pms_id="PMS-01-001")
    assert (doi_saket.name, doi_saket.time_zone) == ("Doi Saket Microgrid", "Asia/Bangkok")
    layout = site_layout(doi_saket)
    assert len(layout) == 24
    now = timezone.now()
    for pms_dock, pack_id in SAMPLE_PACKS.items():
        assert case_in_pms_dock_at(pms_id="PMS-01-001", pms_dock=pms_dock, at=now).component.serial == pack_id
    # Cabinet 2's docks are PMS docks 13-24.
    assert case_in_pms_dock_at(pms_id="PMS-01-001", pms_dock=13, at=now).component == layout[(2, 1)]
    assert location_of_component(component=layout[(2, 12)]).pms_dock == 24

    boards = {case.serial: assert_fully_assembled(case) for case in layout.values()}
    unconfigured = sorted(case for case, board in boards.items() if not board.configured_id)
    assert 1 <= len(unconfigured) <= 5
    assert all(board.configured_id == case for case, board in boards.items() if case not in unconfigured)
    # What an older gateway sends as pack id (the board id) resolves to the case.
    assert case_holding_board_at(board=boards[unconfigured[0]].serial, at=now).serial == unconfigured[0]

    assert devices_on_sites(Kind.MPPT) == [
        ("PMS-01-001", "IT6415AD-01-001"),
        ("PMS-01-001", "IT6415AD-01-002"),
        ("PMS-02-001", "IT6415AD-02-001"),
    ]
    assert devices_on_sites(Kind.INVERTER) == [
        ("PMS-01-001", "SPI-B2-01-001"),
        ("PMS-02-001", "SPI-B2-02-001"),
    ]

    mae_on = Site.objects.get(pms_id="PMS-02-001")
    assert mae_on.name == "Mae On Clinic"
    mae_on_layout = site_layout(mae_on)
    assert sorted(mae_on_layout) == [(1, dock) for dock in range(1, 9)]
    for case in mae_on_layout.values():
        assert_fully_assembled(case)

    # Spare stock, one faulty case, and a past swap that took the faulty one out, by the engineer.
    spare_cases = Component.objects.filter(kind=Kind.CASE, status=Status.IN_STOCK)
    assert spare_cases.count() >= 2
    for case in spare_cases:
        assert_fully_assembled(case)
    assert Component.objects.filter(kind=Kind.CELL_BLOCK, status=Status.IN_STOCK).exists()
    faulty = Component.objects.get(kind=Kind.CASE, status=Status.FAULTY)
    [swapped_out] = installations_of(component=faulty)
    assert swapped_out.removed_at < now
    assert swapped_out.removed_by.username == "engineer"
    replacement = component_in_position_at(position=swapped_out.position)
    assert replacement.serial not in {case.serial for case in spare_cases}
    assert installations_of(component=replacement).get().installed_at == swapped_out.removed_at
    assert location_of_component(component=replacement).site == doi_saket

    # Every later run finds the demo, leaves it alone, and reuses the password.
    counts = row_counts()
    with CaptureQueriesContext(connection) as queries:
        again = run_demo_data(admin_password_file=password_file)
    assert "already exist" in again
    assert len(queries) < 30
    assert (
        Component.objects.count(),
        Installation.objects.count(),
        get_user_model().objects.count(),
    ) == counts
    assert password_file.read_text().strip() == password
    assert log_in(username="engineer", password=password)

    without_users = run_demo_data()
    assert "password" not in without_users


def test_a_new_password_file_resets_the_demo_users_passwords(tmp_path):
    SiteFactory(pms_id="PMS-01-001")  # the demo sites exist already
    get_user_model().objects.create_user(username="manager", password="old password")
    run_demo_data(admin_password_file=tmp_path / "first")
    first = (tmp_path / "first").read_text().strip()
    assert log_in(username="manager", password=first)
    run_demo_data(admin_password_file=tmp_path / "second")
    second = (tmp_path / "second").read_text().strip()
    assert second != first
    assert log_in(username="manager", password=second)
    assert log_in(username="manager", password=first) is None
