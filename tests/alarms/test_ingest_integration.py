"""Alarms from real gateway payloads, through the telemetry pipeline's latest state."""

import pytest

from alarms.models import Alarm, AlarmKind
from alarms.services import pack_alarms_evaluate
from telemetry.services import batch_receive, ingest_payload
from tests.alarms.helpers import seconds
from tests.conftest import wait_until
from tests.factories import build_site
from tests.telemetry.payloads import dataset, envelope, pack_record


def hot_cells_payload(site, at, volts):
    case = site.cases[0]
    return envelope(dataset("pms", site.pms_id, [pack_record(case.serial, 1, at, cells=[volts] * 14)]))


@pytest.mark.django_db
def test_an_over_voltage_lasting_across_batches_is_raised_at_the_reading_time(site):
    ingest_payload(raw=hot_cells_payload(site, seconds(0), "4.250"), site=site)
    pack_alarms_evaluate(site_ids=[site.id])
    assert Alarm.objects.get().state == Alarm.State.PENDING

    ingest_payload(raw=hot_cells_payload(site, seconds(30), "4.260"), site=site)
    pack_alarms_evaluate(site_ids=[site.id])

    alarm = Alarm.objects.get()
    assert (alarm.kind, alarm.case, alarm.state) == (AlarmKind.CELL_OVER_VOLTAGE, site.cases[0], "active")
    assert alarm.raised_at == seconds(30)
    assert alarm.value_at_raise == pytest.approx(4.26, abs=1e-5)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_batches_posted_by_a_gateway_raise_the_alarm_in_the_worker(celery_worker_process):
    site = build_site(docks=4, at=seconds(-3600))
    site.cases = [site.test_cases[(1, 1)]]

    batch_receive(raw=hot_cells_payload(site, seconds(0), "4.250"), site_id=site.id)
    wait_until(lambda: Alarm.objects.filter(state=Alarm.State.PENDING).exists())
    batch_receive(raw=hot_cells_payload(site, seconds(30), "4.250"), site_id=site.id)

    alarm = wait_until(lambda: Alarm.objects.filter(state=Alarm.State.ACTIVE).first())
    assert (alarm.site, alarm.case, alarm.raised_at) == (site, site.cases[0], seconds(30))
