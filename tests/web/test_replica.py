"""Reads from a real streaming replica (`make test-replica`: scripts/db.sh replica, DATABASE_REPLICA_URL):
pages read through it, a user who has just written reads from the primary for a while, transactions and
writes stay on the primary."""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pms_site.db_routers import PIN_COOKIE
from tests.web.conftest import REPLICA, client_for


def page_queries(captured):
    """The queries of the page, without the test's wait for the replica (tests/web/conftest.py)."""
    return [query["sql"] for query in captured.captured_queries if "_wal_" not in query["sql"]]


pytestmark = [
    pytest.mark.skipif(not REPLICA, reason="needs DATABASE_REPLICA_URL (make test-replica)"),
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
]


def test_the_replica_is_a_standby_of_the_test_database():
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_database()")
        in_recovery, name = cursor.fetchone()
    assert in_recovery
    assert name == connections["default"].settings_dict["NAME"]


def test_pages_read_from_the_replica(client, users, site):
    client_for(client, users["manager"])
    for url in [reverse("web:fleet"), reverse("web:site", args=[site.pk])]:
        with (
            CaptureQueriesContext(connections["replica"]) as replica,
            CaptureQueriesContext(connections["default"]) as primary,
        ):
            response = client.get(url)
        assert response.status_code == 200
        assert site.name in response.content.decode()
        assert len(page_queries(replica)) > 3, url
        assert page_queries(primary) == [], url


def test_after_a_write_the_user_reads_from_the_primary(client, users, site):
    client_for(client, users["field"])
    response = client.post(reverse("logout"))
    assert response.cookies[PIN_COOKIE]["max-age"] > 0
    client_for(client, users["manager"])
    with CaptureQueriesContext(connections["replica"]) as replica:
        assert client.get(reverse("web:site", args=[site.pk])).status_code == 200
    assert page_queries(replica) == []


def test_requests_that_write_read_and_write_on_the_primary(client, users):
    with CaptureQueriesContext(connections["replica"]) as replica:
        response = client.post(reverse("login"), {"username": "manager", "password": "wrong"})
    assert response.status_code == 200
    assert page_queries(replica) == []
