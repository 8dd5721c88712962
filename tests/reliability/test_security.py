"""Security basics: a clean `check --deploy` in production, a Content Security Policy, login lockout and
session expiry, and the API's token logins untouched by the lockout."""

import os
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assets.models import Kind
from telemetry.services import gateway_token_create
from tests.conftest import ROOT
from tests.factories import ComponentFactory, SiteFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


def test_check_deploy_is_clean_with_production_settings_from_the_environment():
    # Only these DJANGO_ variables: the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process.
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("DJANGO_")},
        "DJANGO_SETTINGS_MODULE": "pms_site.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "pms.example.com",
        "DJANGO_HTTPS": "1",
        "DJANGO_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    }

    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout


def test_without_https_the_local_server_answers_plain_http(client):
    """`make run` serves http://127.0.0.1:8000/: no redirect, no HSTS, cookies over HTTP."""
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers
    assert not settings.SESSION_COOKIE_SECURE


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/fleet/", "/admin/", "/admin/assets/site/", "/api/v1/"]
)
def test_every_page_carries_the_content_security_policy(client, path):
    client.force_login(UserFactory(is_staff=True, groups=["Manager"]))

    policy = client.get(path).headers["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'self'"
    assert directives["form-action"] == "'self'"


def test_the_api_docs_script_is_served_from_the_site_not_inline(client):
    client.force_login(UserFactory(groups=["Manager"]))

    page = client.get("/api/docs/")
    script = client.get("/api/docs/?script=")

    assert page.status_code == 200
    assert "<script>" not in page.content.decode() and "<style>" not in page.content.decode()
    assert 'src="/api/docs/?script="' in page.content.decode()
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]


def log_in(client, path, username, password):
    return client.post(path, {"username": username, "password": password})


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_a_hundred_wrong_passwords_lock_the_user_out_even_with_the_right_one(client, path):
    UserFactory(username="mgr", is_staff=True, groups=["Manager"])
    UserFactory(username="other", is_staff=True, groups=["Manager"])

    answers = [log_in(client, path, "mgr", f"guess {n}").status_code for n in range(100)]

    limit = settings.AXES_FAILURE_LIMIT
    assert answers[: limit - 1] == [200] * (limit - 1)  # the form again, with its error
    assert set(answers[limit - 1 :]) == {429}
    locked = log_in(client, path, "mgr", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed log-ins" in locked.content.decode()
    assert f"blocked for\n    {settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another user from the same address is not locked out.
    assert log_in(client, path, "other", PASSWORD).status_code == 302


def test_the_lockout_covers_the_site_and_the_admin_login_and_ends_after_the_cool_off(client):
    UserFactory(username="mgr", is_staff=True, groups=["Manager"])
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, LOGIN_PAGES[attempt % 2], "mgr", "wrong")

    assert [log_in(client, path, "mgr", PASSWORD).status_code for path in LOGIN_PAGES] == [429, 429]

    cool_off_ended = AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    AccessAttempt.objects.update(attempt_time=cool_off_ended)
    assert log_in(client, "/accounts/login/", "mgr", PASSWORD).status_code == 302
    assert client.get("/fleet/").status_code == 200


def test_the_lockout_does_not_touch_api_tokens_or_gateway_tokens():
    user = UserFactory(username="mgr", groups=["Manager"])
    api = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        log_in(api, "/accounts/login/", "mgr", "wrong")
    token = Token.objects.create(user=user)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert api.get("/api/v1/sites/").status_code == 200

    _, raw_token = gateway_token_create(site=SiteFactory(), name="gateway")
    gateway = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    response = gateway.post("/api/v1/ingest/", b'{"datasets": []}', content_type="application/json")
    assert response.status_code not in (401, 403, 429)


def test_a_session_lasts_one_shift_from_login(client):
    UserFactory(username="mgr", groups=["Manager"])

    response = log_in(client, "/accounts/login/", "mgr", PASSWORD)

    assert response.status_code == 302
    assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == 8 * 3600
    assert client.session.get_expire_at_browser_close() is False


def test_a_history_version_page_cannot_write_even_for_a_viewer(client):
    """simple-history saves a POSTed version for anyone who may view it; here versions are read only."""
    board = ComponentFactory(kind=Kind.ACQ_BOARD, serial="A8000", manufacturer="Board House")
    version = board.history.get()
    url = f"/admin/assets/component/{board.pk}/history/{version.history_id}/"
    client.force_login(UserFactory(is_staff=True, groups=["Manager"]))
    form = client.get(url).context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}

    response = client.post(url, {**data, "manufacturer": "Forged", "change_reason": "revert"})

    assert response.status_code == 403
    board.refresh_from_db()
    assert board.manufacturer == "Board House"
