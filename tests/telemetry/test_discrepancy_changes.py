"""The services that record a discrepancy's change in the master data and resolve it, both or neither."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from assets.models import Installation, Status
from assets.selectors import component_in_position_at
from assets.services import component_remove
from telemetry.models import Discrepancy
from telemetry.services import discrepancy_resolve_by_install, discrepancy_resolve_by_swap
from tests.factories import UserFactory, build_site
from tests.web.test_field import unlogged_swap

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    return build_site(cabinets=1, docks=4, pms_id="PMS-79-001", at=timezone.now() - timedelta(days=1))


def test_a_swap_recording_a_discrepancy_resolves_it_with_the_new_installation(site):
    engineer = UserFactory(username="engineer")
    roaming, dock, old = site.test_cases[(1, 1)], site.test_docks[(1, 3)], site.test_cases[(1, 3)]
    discrepancy = unlogged_swap(site, roaming, 3)

    installation = discrepancy_resolve_by_swap(
        confirm_incomplete=True,
        discrepancy=discrepancy,
        position=dock,
        old_component=old,
        new_component=roaming,
        user=engineer,
        reason="Moved without a record",
        old_component_status=Status.IN_STOCK,
    )

    assert component_in_position_at(position=dock) == roaming == installation.component
    discrepancy.refresh_from_db()
    assert discrepancy.status == Discrepancy.Status.RESOLVED
    assert (discrepancy.resolved_with, discrepancy.resolved_by) == (installation, engineer)


def test_an_install_recording_a_discrepancy_resolves_it(site):
    roaming, dock = site.test_cases[(1, 1)], site.test_docks[(1, 3)]
    discrepancy = unlogged_swap(site, roaming, 3)
    component_remove(component=site.test_cases[(1, 3)], user=None, reason="Sent for repair")

    installation = discrepancy_resolve_by_install(
        confirm_incomplete=True,
        discrepancy=discrepancy,
        component=roaming,
        position=dock,
        user=None,
        reason="Found it",
    )

    discrepancy.refresh_from_db()
    assert discrepancy.resolved_with == installation and installation.position == dock


def test_a_change_that_does_not_record_the_discrepancy_is_refused_and_leaves_nothing_behind(site):
    roaming = site.test_cases[(1, 1)]
    discrepancy = unlogged_swap(site, roaming, 3)
    installations = Installation.objects.count()

    with pytest.raises(ValidationError) as error:
        discrepancy_resolve_by_install(
            confirm_incomplete=True,
            discrepancy=discrepancy,
            component=roaming,
            position=site.test_docks[(1, 1)],
            user=None,
        )

    assert error.value.message_dict["discrepancy"] == [
        f"This change does not record the discrepancy it was opened from: case {roaming.serial} seen at "
        "PMS-79-001 C1-D3 (reported as dock 3)."
    ]
    assert Installation.objects.count() == installations
    roaming.refresh_from_db()
    discrepancy.refresh_from_db()
    assert (roaming.status, discrepancy.status) == (Status.IN_STOCK, Discrepancy.Status.OPEN)
