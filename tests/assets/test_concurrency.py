"""Two engineers changing one dock at the same moment, on two real database connections.

The order is made deterministic without sleeps: the first engineer's transaction holds its locks until the
main thread sees, in pg_locks, the second engineer's connection waiting for one of them.
"""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from assets import services
from assets.models import Component, Installation, Status
from assets.selectors import installation_at
from tests.conftest import wait_until
from tests.factories import CaseFactory, UserFactory, build_site

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
WAIT_SECONDS = 20


class Engineer(threading.Thread):
    """Runs ``work`` on its own database connection; keeps what it returned or raised."""

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work = work
        self.result = self.error = self.backend_pid = None
        self.connected = threading.Event()

    def run(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.backend_pid = cursor.fetchone()[0]
            self.connected.set()
            self.result = self.work()
        except Exception as error:  # the test inspects whatever went wrong
            self.error = error
        finally:
            connection.close()


def waits_for_a_lock(pid):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [pid])
        return cursor.fetchone()[0] > 0


@pytest.fixture
def dock_with_case():
    """Dock 1 of PMS-01-001 holding case 0241 since yesterday, committed for every connection to see."""
    site = build_site(pms_id="PMS-01-001", cabinets=1, docks=4, cases=False)
    dock = site.test_docks[(1, 1)]
    services.component_install(
        confirm_incomplete=True,
        component=CaseFactory(serial="0241"),
        position=dock,
        user=None,
        at=timezone.now() - timedelta(days=1),
    )
    return dock


def test_two_swaps_at_one_dock_exactly_one_wins_and_the_other_gets_a_clear_error(dock_with_case):
    dock = dock_with_case
    first_user, second_user = UserFactory(username="first"), UserFactory(username="second")
    first_case, second_case = CaseFactory(serial="0250"), CaseFactory(serial="0251")
    both_looked = threading.Barrier(2, timeout=WAIT_SECONDS)
    first_swapped, release_first = threading.Event(), threading.Event()

    def look_then_swap(case, user, *, after=None):
        seen = installation_at(position=dock).component  # what the engineer's page showed
        both_looked.wait()
        if after is not None:
            assert after.wait(WAIT_SECONDS)
        return services.component_swap(
            confirm_incomplete=True,
            position=dock,
            old_component=seen,
            new_component=case,
            user=user,
            reason="Low capacity",
            old_component_status=Status.FAULTY,
        )

    def first_engineer():
        with transaction.atomic():
            installation = look_then_swap(first_case, first_user)
            first_swapped.set()
            # Keep the locks until the second engineer is waiting for them.
            assert release_first.wait(WAIT_SECONDS)
        return installation

    def second_engineer():
        return look_then_swap(second_case, second_user, after=first_swapped)

    first, second = Engineer(first_engineer), Engineer(second_engineer)
    first.start()
    second.start()
    assert second.connected.wait(WAIT_SECONDS)
    wait_until(lambda: waits_for_a_lock(second.backend_pid), timeout=WAIT_SECONDS)
    release_first.set()
    first.join(WAIT_SECONDS)
    second.join(WAIT_SECONDS)

    assert first.error is None
    assert first.result.component == first_case
    assert isinstance(second.error, ValidationError)
    assert second.error.message_dict["old_component"] == [
        "PMS-01-001 C1-D1 now holds Case 0250, not Case 0241; someone changed it meanwhile. Reload and check."
    ]
    [open_installation] = Installation.objects.filter(position=dock, removed_at__isnull=True)
    assert open_installation.component == first_case
    assert open_installation.installed_by == first_user
    statuses = dict(
        Component.objects.filter(serial__in=["0241", "0250", "0251"]).values_list("serial", "status")
    )
    assert statuses == {"0241": Status.FAULTY, "0250": Status.INSTALLED, "0251": Status.IN_STOCK}


def test_a_removal_racing_a_swap_of_the_same_case_waits_and_then_reports_it(dock_with_case):
    dock = dock_with_case
    old_case = Component.objects.get(serial="0241")
    swapped, release_swap = threading.Event(), threading.Event()

    def swap_engineer():
        with transaction.atomic():
            services.component_swap(
                confirm_incomplete=True,
                position=dock,
                old_component=old_case,
                new_component=CaseFactory(serial="0250"),
                user=None,
                reason="Swap",
                old_component_status=Status.IN_STOCK,
            )
            swapped.set()
            assert release_swap.wait(WAIT_SECONDS)

    def remove_engineer():
        assert swapped.wait(WAIT_SECONDS)
        return services.component_remove(
            component=old_case, user=None, reason="Remove", new_status=Status.FAULTY
        )

    swapper, remover = Engineer(swap_engineer), Engineer(remove_engineer)
    swapper.start()
    remover.start()
    assert remover.connected.wait(WAIT_SECONDS)
    wait_until(lambda: waits_for_a_lock(remover.backend_pid), timeout=WAIT_SECONDS)
    release_swap.set()
    swapper.join(WAIT_SECONDS)
    remover.join(WAIT_SECONDS)

    assert swapper.error is None
    assert remover.error.message_dict["component"] == [
        "Case 0241 was removed or swapped meanwhile. Reload and check."
    ]
    old_case.refresh_from_db()
    assert old_case.status == Status.IN_STOCK
    assert installation_at(position=dock).component.serial == "0250"
