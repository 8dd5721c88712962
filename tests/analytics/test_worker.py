"""End to end through a real Celery worker: readings in, hour rows and a health summary out."""

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.models import CaseHealth, CaseHour
from assets.constants import CELL_BLOCKS_PER_CASE
from telemetry.models import PackReading
from telemetry.rollup_tasks import refresh_late_rollups
from telemetry.rollups import ONE_HOUR, bucket_start, late_minutes_note
from tests.conftest import wait_until
from tests.factories import CaseFactory, SiteFactory


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_readings_refreshed_by_the_worker_come_out_as_hours_and_health(celery_worker_process):
    site, case = SiteFactory(time_zone="UTC"), CaseFactory()
    start = bucket_start(timezone.now() - timedelta(hours=3), ONE_HOUR)
    cells = [3.8] * CELL_BLOCKS_PER_CASE
    cells[6] = 3.75  # cell 7 sits 50 mV below the others
    PackReading.objects.bulk_create(
        PackReading(
            case=case,
            site=site,
            time=start + timedelta(seconds=5 * i),
            utc_offset_minutes=0,
            dock=1,
            volts=53.0,
            amps=-10.0,
            temps=[50.0, 40.0, 40.0],
            cell_volts=cells,
            open_cells=[],
            fet_open=[],
            fet_temps=[40.0, 40.0],
        )
        for i in range(12 * 30)  # 30 minutes discharging at 53 V x 10 A, 50 degrees
    )

    late_minutes_note(minutes={start + timedelta(minutes=minute) for minute in range(30)})
    refresh_late_rollups.delay()

    health = wait_until(lambda: CaseHealth.objects.filter(case=case).first())
    hour = CaseHour.objects.get(case=case)
    assert (hour.minutes, hour.discharged_wh) == (30, pytest.approx(530 * 0.5))
    reasons = {item["key"]: item["reason"] for item in health.indicators}
    assert reasons["deviation"] == "cell 7 sits 50 mV below the pack median under load"
    assert reasons["temperature"] == "0.5 h above 45 °C in its last day with data, at most 50.0 °C"
    assert health.light == "red"
