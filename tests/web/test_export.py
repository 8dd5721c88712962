"""CSV export of readings: streamed, the right rows, a clear message for a bad range."""

import csv
import io
from zoneinfo import ZoneInfo

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from tests.factories import build_site
from tests.web.conftest import add_mppt, add_readings, client_for

pytestmark = pytest.mark.django_db


def rows_of(response):
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_site_export_streams_every_pack_reading_of_the_range_and_no_other(client, users, site):
    add_readings(site, minutes=30, step_seconds=60, open_cells=[2, 5])
    other = build_site(cabinets=1, docks=4)
    add_readings(other, minutes=30)
    client_for(client, users["manager"])
    response = client.get(reverse("web:site-export", args=[site.pk]), {"range": "1h"})
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="PMS-77-001-packs-')
    local_now = timezone.localtime(timezone.now(), ZoneInfo(site.time_zone))
    assert f"-{local_now:%Y%m%dT%H}" in disposition and disposition.endswith('+0700.csv"')
    header, *rows = rows_of(response)
    assert header[:8] == [
        "time_local",
        "time_utc",
        "case_id",
        "cabinet",
        "dock",
        "reported_dock",
        "volts",
        "amps",
    ]
    assert len(header) == 29
    assert len(rows) == 4 * 30
    assert {row[2] for row in rows} == {case.serial for case in site.test_cases.values()}
    assert all(row[0].endswith("+07:00") and row[1].endswith("+00:00") for row in rows)
    docks = {row[2]: row[3:6] for row in rows}
    assert docks == {
        case.serial: [str(c), str(n), str((c - 1) * 12 + n)] for (c, n), case in site.test_cases.items()
    }
    assert rows == sorted(rows, key=lambda row: row[1])
    assert rows[0][25] == "2 5"


def test_case_export_follows_the_case_and_the_range(client, users, site):
    add_readings(site, minutes=120, step_seconds=60)
    case = site.test_cases[(1, 3)]
    client_for(client, users["manager"])
    _, *rows = rows_of(client.get(reverse("web:case-export", args=[case.serial]), {"range": "1h"}))
    assert len(rows) == 60 and {row[2] for row in rows} == {case.serial}
    _, *rows = rows_of(client.get(reverse("web:case-export", args=[case.serial]), {"range": "24h"}))
    assert len(rows) == 120
    _, *rows = rows_of(client.get(reverse("web:case-export", args=[case.serial]), {"range": "life"}))
    assert len(rows) == 120


def test_device_export(client, users, site):
    device = add_mppt(site, minutes=10)
    client_for(client, users["manager"])
    header, *rows = rows_of(client.get(reverse("web:device-export", args=[device.pk]), {"range": "1h"}))
    assert header[2] == "device_id" and len(rows) == 10
    assert rows[0][2] == device.configured_id and rows[0][3:5] == ["48.0", "47.0"]


def test_export_with_a_bad_range_says_what_is_wrong(client, users, site):
    client_for(client, users["manager"])
    response = client.get(
        reverse("web:site-export", args=[site.pk]),
        {"range": "custom", "start": "2026-03-01T00:00", "end": "2026-02-01T00:00"},
    )
    assert response.status_code == 400
    assert response.content.decode() == "Cannot export: end: The end must be after the start."


def test_export_needs_login_and_a_role(client, users, site):
    url = reverse("web:site-export", args=[site.pk])
    assert client.get(url).status_code == 302
    client_for(client, users["nobody"])
    assert client.get(url).status_code == 403
