from datetime import timedelta

from assets.constants import CELL_BLOCKS_PER_CASE
from telemetry.models import DeviceKind, DeviceRollup1m, PackRollup1m


def pack_minute(
    case, site, bucket, *, volts=53.0, amps=0.0, spread=0.0, cells=None, temp=30.0, fet_temp=31.0
):
    """A 1-minute pack rollup: the current within ``amps`` +/- ``spread``, the cells averaging ``cells``."""
    cells = cells or [volts / CELL_BLOCKS_PER_CASE] * CELL_BLOCKS_PER_CASE
    power = volts * amps
    return PackRollup1m.objects.create(
        bucket=bucket,
        case=case,
        site=site,
        n=12,
        volts_min=volts,
        volts_avg=volts,
        volts_max=volts,
        amps_min=amps - spread,
        amps_avg=amps,
        amps_max=amps + spread,
        cell_min=min(cells),
        cell_max=max(cells),
        cell_delta_max=max(cells) - min(cells),
        cell_volts_avg=cells,
        temp_max=temp,
        fet_temp_max=fet_temp,
        charge_power_avg=max(power, 0),
        discharge_power_avg=max(-power, 0),
        charge_amps_avg=max(amps, 0),
        discharge_amps_avg=max(-amps, 0),
    )


def device_minutes(device, site, start, count, *, pv_watts=(600.0, 300.0), load_watts=100.0):
    DeviceRollup1m.objects.bulk_create(
        DeviceRollup1m(
            bucket=start + timedelta(minutes=i),
            device=device,
            kind=DeviceKind.MPPT,
            site=site,
            n=12,
            pv1_power_avg=pv_watts[0],
            pv1_power_max=pv_watts[0],
            pv2_power_avg=pv_watts[1],
            pv2_power_max=pv_watts[1],
            batt_volts_min=53,
            batt_volts_avg=53,
            batt_volts_max=53,
            batt_amps_min=0,
            batt_amps_avg=0,
            batt_amps_max=0,
            load_power_avg=load_watts,
            load_power_max=load_watts,
        )
        for i in range(count)
    )
