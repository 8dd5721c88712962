"""Discrepancies are exact and closed on every path: sample counts of stored readings only, the kind says
what the records say, and any install, removal or swap, by any path, at any time, brings them up to date."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assets.models import Status
from assets.services import component_install, component_remove, component_swap
from telemetry.models import Discrepancy, PackReading
from telemetry.services import ingest_payload
from tests.factories import CaseFactory, UserFactory, build_site
from tests.telemetry.payloads import ago, dataset, envelope, pack_record

pytestmark = pytest.mark.django_db
Kinds = Discrepancy.Kind


@pytest.fixture
def site():
    return build_site(cabinets=1, docks=4, pms_id="PMS-81-001", at=ago(days=2))


def report(site, case, dock, times):
    return ingest_payload(
        raw=envelope(dataset("pms", site.pms_id, [pack_record(case.serial, dock, at) for at in times])),
        site=site,
    )


def test_a_resent_batch_adds_nothing_to_the_sample_count_and_a_half_new_one_adds_its_new_readings(site):
    stray = CaseFactory()
    times = [ago(minutes=m) for m in range(60, 0, -1)]

    report(site, stray, 2, times[:40])
    report(site, stray, 2, times[:40])
    again = report(site, stray, 2, times[20:])

    assert (again.stored, again.duplicate) == (20, 20)
    discrepancy = Discrepancy.objects.get()
    assert discrepancy.sample_count == PackReading.objects.filter(case=stray).count() == 60
    assert (discrepancy.first_seen, discrepancy.last_seen) == (times[0], times[-1])


def test_a_resent_batch_does_not_reopen_a_discrepancy_marked_resolved(site):
    stray, at = CaseFactory(), [ago(minutes=5)]
    report(site, stray, 2, at)
    Discrepancy.objects.update(status=Discrepancy.Status.RESOLVED)

    report(site, stray, 2, at)

    assert not Discrepancy.objects.filter(status=Discrepancy.Status.OPEN).exists()


@pytest.mark.parametrize(
    ("setting", "kind"),
    [
        ("in stock", Kinds.NOT_INSTALLED),
        ("faulty", Kinds.NOT_INSTALLED),
        ("other site", Kinds.OTHER_SITE),
        ("other dock, occupied", Kinds.OTHER_CASE),
        ("other dock, empty", Kinds.OTHER_DOCK),
        ("beyond the busbar", Kinds.UNKNOWN_DOCK),
        ("no such cabinet", Kinds.UNKNOWN_DOCK),
    ],
)
def test_the_kind_says_what_the_records_say(site, setting, kind):
    case, dock = site.test_cases[(1, 1)], 3
    if setting in ("in stock", "faulty"):
        component_remove(component=case, user=None, reason="out", at=ago(days=1), new_status=Status.FAULTY)
        if setting == "in stock":
            case = CaseFactory()
    elif setting == "other site":
        case = build_site(docks=4, at=ago(days=2)).test_cases[(1, 1)]
    elif setting == "other dock, empty":
        component_remove(component=site.test_cases[(1, 3)], user=None, reason="out", at=ago(days=1))
    elif setting == "beyond the busbar":
        dock = 9
    elif setting == "no such cabinet":
        dock = 14

    report(site, case, dock, [ago(minutes=3)])

    assert Discrepancy.objects.get().kind == kind


def engineer_api():
    engineer = UserFactory(username="fiona", groups=["Field engineer"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=engineer).key}")
    return engineer, client


def test_a_backdated_swap_through_the_api_resolves_the_discrepancy_it_explains_and_links_it(site):
    engineer, api = engineer_api()
    stray, old = CaseFactory(), site.test_cases[(1, 2)]
    report(site, stray, 2, [ago(hours=3), ago(hours=2)])
    other = report(site, CaseFactory(), 3, [ago(hours=2)])
    assert other.stored == 1

    response = api.post(
        "/api/v1/installations/swap/",
        {
            "position": site.test_docks[(1, 2)].pk,
            "old_serial": old.serial,
            "new_serial": stray.serial,
            "reason": "Swapped last week, logged now",
            "old_component_status": "faulty",
            "at": ago(hours=4).isoformat(),
            "confirm_incomplete": True,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    resolved = Discrepancy.objects.get(case=stray)
    assert resolved.status == Discrepancy.Status.RESOLVED
    assert (resolved.resolved_with_id, resolved.resolved_by) == (response.json()["id"], engineer)
    assert Discrepancy.objects.filter(status=Discrepancy.Status.OPEN).count() == 1


def test_a_direct_install_resolves_and_a_removal_updates_what_the_others_say(site):
    stray, recorded = CaseFactory(), site.test_cases[(1, 1)]
    report(site, stray, 3, [ago(minutes=30)])  # dock 3 holds another case
    report(site, recorded, 2, [ago(minutes=30)])  # recorded in dock 1
    assert set(Discrepancy.objects.values_list("kind", flat=True)) == {Kinds.NOT_INSTALLED, Kinds.OTHER_CASE}

    component_remove(component=recorded, user=None, reason="Found in dock 2", at=ago(minutes=40))
    seen_in_two = Discrepancy.objects.get(case=recorded)
    assert (seen_in_two.kind, seen_in_two.recorded_site, seen_in_two.recorded_dock) == (
        Kinds.NOT_INSTALLED,
        None,
        None,
    )

    component_remove(component=site.test_cases[(1, 3)], user=None, reason="Swapped", at=ago(minutes=40))
    installation = component_install(
        confirm_incomplete=True,
        component=stray,
        position=site.test_docks[(1, 3)],
        user=None,
        at=ago(minutes=35),
    )
    component_swap(
        confirm_incomplete=True,
        position=site.test_docks[(1, 2)],
        old_component=site.test_cases[(1, 2)],
        new_component=recorded,
        user=None,
        reason="Found in dock 2",
        old_component_status=Status.IN_STOCK,
        at=ago(minutes=35),
    )

    assert Discrepancy.objects.get(case=stray).resolved_with == installation
    assert not Discrepancy.objects.filter(status=Discrepancy.Status.OPEN).exists()


def test_an_install_elsewhere_resolves_nothing(site):
    stray = CaseFactory()
    report(site, stray, 3, [ago(minutes=30)])
    component_remove(component=site.test_cases[(1, 4)], user=None, reason="out", at=ago(hours=1))

    component_install(
        confirm_incomplete=True, component=stray, position=site.test_docks[(1, 4)], user=None, at=ago(hours=1)
    )

    discrepancy = Discrepancy.objects.get()
    assert discrepancy.status == Discrepancy.Status.OPEN
    assert (discrepancy.kind, discrepancy.recorded_site, discrepancy.recorded_dock) == (
        Kinds.OTHER_CASE,
        site,
        4,
    )
