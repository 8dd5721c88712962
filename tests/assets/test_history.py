"""django-simple-history records every change with the user the service acted for, and the reason."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from assets import services
from assets.models import Installation, Kind, Status
from tests.factories import CaseFactory, UserFactory, build_site

pytestmark = pytest.mark.django_db


def changes(record):
    """{field: (old, new)} between a history record and the one before it."""
    delta = record.diff_against(record.prev_record)
    return {change.field: (change.old, change.new) for change in delta.changes}


@pytest.fixture
def people():
    return {
        name: UserFactory(username=name, groups=[group])
        for name, group in (("ploy", "Warehouse"), ("anan", "Field engineer"), ("kit", "Field engineer"))
    }


def test_a_cases_life_is_in_its_history_with_who_and_why(people):
    site = build_site(pms_id="PMS-01-001", cabinets=1, docks=4, cases=False)
    dock = site.test_docks[(1, 1)]
    [case, spare] = services.components_receive(
        kind=Kind.CASE, serials=["0241", "0242"], user=people["ploy"], purchase_order="PO-9"
    )
    installed_at = timezone.now() - timedelta(days=3)
    services.component_install(
        confirm_incomplete=True,
        component=case,
        position=dock,
        user=people["anan"],
        reason="Commissioning",
        at=installed_at,
    )
    services.component_swap(
        confirm_incomplete=True,
        position=dock,
        old_component=case,
        new_component=spare,
        user=people["kit"],
        reason="Swollen casing",
        old_component_status=Status.FAULTY,
        at=installed_at + timedelta(days=1),
    )

    received, installed, swapped_out = case.history.order_by("history_date")
    assert (received.history_type, received.history_user, received.history_change_reason) == (
        "+",
        people["ploy"],
        "Received on PO PO-9",
    )
    assert (installed.history_user, installed.history_change_reason) == (people["anan"], "Commissioning")
    assert changes(installed) == {"status": (Status.IN_STOCK, Status.INSTALLED)}
    assert (swapped_out.history_user, swapped_out.history_change_reason) == (people["kit"], "Swollen casing")
    assert changes(swapped_out) == {"status": (Status.INSTALLED, Status.FAULTY)}

    installation = Installation.objects.get(component=case)
    opened, closed = installation.history.order_by("history_date")
    assert (opened.history_type, opened.history_user, opened.history_change_reason) == (
        "+",
        people["anan"],
        "Commissioning",
    )
    assert (closed.history_user, closed.history_change_reason) == (people["kit"], "Swollen casing")
    assert set(changes(closed)) == {"removed_at", "removed_by", "removal_reason"}

    replacement = Installation.objects.get(component=spare)
    assert replacement.history.get().history_user == people["kit"]
    assert spare.history.latest().history_user == people["kit"]


def test_removal_and_status_changes_name_their_user_and_reason(people):
    site = build_site(pms_id="PMS-01-001", cabinets=1, docks=4, cases=False)
    case = CaseFactory(serial="0241")
    services.component_install(
        confirm_incomplete=True, component=case, position=site.test_docks[(1, 2)], user=people["anan"]
    )
    services.component_remove(
        component=case, user=people["kit"], reason="Cell imbalance", new_status=Status.FAULTY
    )
    services.component_set_status(
        component=case, status=Status.IN_REPAIR, user=people["ploy"], reason="RMA 1207"
    )

    latest, removed = case.history.order_by("-history_date")[:2]
    assert (removed.history_user, removed.history_change_reason) == (people["kit"], "Cell imbalance")
    assert (latest.history_user, latest.history_change_reason) == (people["ploy"], "RMA 1207")
    assert changes(latest) == {"status": (Status.FAULTY, Status.IN_REPAIR)}


def test_an_edit_records_the_old_and_new_values_of_each_field(people):
    case = CaseFactory(serial="0241", supplier="Lanna Battery Systems", batch="")
    services.component_update(
        component=case, user=people["ploy"], reason="Supplier renamed", supplier="Lanna Energy", batch="L-22"
    )
    record = case.history.latest()
    assert record.history_user == people["ploy"]
    assert record.history_change_reason == "Supplier renamed"
    assert changes(record) == {"supplier": ("Lanna Battery Systems", "Lanna Energy"), "batch": ("", "L-22")}


def test_a_long_reason_is_kept_whole_in_the_event_and_shortened_in_the_history(people):
    case = CaseFactory()
    reason = "Replaced after the site visit; " * 6 + "cell 7."
    assert len(reason) == 193
    services.component_set_status(component=case, status=Status.RETIRED, user=people["ploy"], reason=reason)
    assert case.events.first().reason == reason
    assert case.history.latest().history_change_reason == reason[:100]


def test_a_reason_too_long_to_keep_is_refused_with_a_message(people):
    case = CaseFactory()
    with pytest.raises(ValidationError) as error:
        services.component_set_status(
            component=case, status=Status.RETIRED, user=people["ploy"], reason="x" * 201
        )
    assert error.value.message_dict["reason"] == [
        "A reason has at most 200 characters, not 201; put the details in the note."
    ]
    case.refresh_from_db()
    assert case.status == Status.IN_STOCK


def test_positions_and_sites_have_history_too(people):
    site = services.site_create(name="Mae On", pms_id="PMS-02-001", user=people["ploy"], cabinets=1)
    assert site.history.get().history_user == people["ploy"]
    [busbar] = services.components_receive(
        kind=Kind.BUSBAR, serials=["BB-1"], user=people["ploy"], dock_count=4
    )
    dock_histories = [dock.history.get() for dock in busbar.child_positions.all()]
    assert len(dock_histories) == 4
    assert {record.history_user for record in dock_histories} == {people["ploy"]}
