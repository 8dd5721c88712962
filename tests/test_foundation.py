"""The foundation is real: TimescaleDB, Redis, a Celery worker, and the served admin."""

from pathlib import Path

import pytest
from django.db import connection

from telemetry.models import WorkerHeartbeat
from telemetry.tasks import worker_heartbeat
from tests.conftest import wait_until


@pytest.mark.django_db
def test_timescaledb_extension_is_loaded_in_the_test_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        row = cursor.fetchone()
        cursor.execute("SHOW shared_preload_libraries")
        preload = cursor.fetchone()[0]
    assert row is not None, "timescaledb extension is not installed in the test database"
    assert "timescaledb" in preload


@pytest.mark.django_db
def test_btree_gist_extension_is_installed_for_the_installation_constraints():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'")
        assert cursor.fetchone() is not None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_task_sent_through_redis_runs_in_a_real_worker_and_writes_to_the_database(celery_worker_process):
    worker_heartbeat.delay()
    heartbeat = wait_until(
        lambda: WorkerHeartbeat.objects.filter(hostname__startswith="test-worker-").first()
    )
    assert heartbeat.beat_at is not None


@pytest.mark.django_db
def test_admin_login_page_is_served(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content


@pytest.mark.django_db
def test_pages_require_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_every_beat_task_is_a_registered_task(settings):
    from pms_site.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert scheduled - set(app.tasks) == set()


def test_no_template_comment_spans_lines():
    """Django's {# #} comment ends at the line's end: one spread over lines would be shown on the page."""
    root = Path(__file__).resolve().parent.parent / "templates"
    spread = [
        f"{path.relative_to(root)}:{number}"
        for path in root.rglob("*.html")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.count("{#") != line.count("#}")
    ]
    assert spread == []
