"""Data the benchmarks share: sites built through the asset services, and simulated readings."""

import msgspec

from assets import services
from assets.models import Kind
from telemetry.simulation import Simulator, sample_times, site_layout

SAMPLES_PER_PAYLOAD = 720


def _receive(kind, serials, **fields):
    return services.components_receive(kind=kind, serials=serials, user=None, **fields)


def bench_site(*, pms_id, cabinets, at, docks=12):
    """A site of ``cabinets`` full cabinets (``docks`` cases each), installed at ``at``."""
    site = services.site_create(
        name=f"Benchmark {pms_id}", pms_id=pms_id, user=None, time_zone="Asia/Bangkok", cabinets=cabinets
    )
    for cabinet_number in range(1, cabinets + 1):
        prefix = f"{pms_id}-{cabinet_number}"
        [cabinet] = _receive(Kind.CABINET, [f"CAB-{prefix}"])
        [controller] = _receive(
            Kind.CONTROLLER, [f"EH-{prefix}"], controller_type="ehub", configured_ids={f"EH-{prefix}": pms_id}
        )
        [busbar] = _receive(Kind.BUSBAR, [f"BB-{prefix}"], dock_count=docks)
        cases = _receive(Kind.CASE, [f"C-{prefix}-{dock:02d}" for dock in range(1, docks + 1)])
        position = services.site_position_get_or_create(site=site, kind=Kind.CABINET, number=cabinet_number)
        services.component_install(component=cabinet, position=position, user=None, at=at)
        for part in (controller, busbar):
            position = services.child_position_get(parent=cabinet, kind=part.kind)
            services.component_install(component=part, position=position, user=None, at=at)
        for dock, case in enumerate(cases, start=1):
            position = services.child_position_get(parent=busbar, kind=Kind.CASE, number=dock)
            services.component_install(component=case, position=position, user=None, at=at)
    return site


def simulated_payloads(site, *, start, end, step=5):
    """Encoded envelopes of the site's readings over [start, end), SAMPLES_PER_PAYLOAD samples each."""
    layout = site_layout(site, end)
    simulator = Simulator([layout], swap_at=None)
    times = sample_times(start, end, step)
    return [
        msgspec.json.encode(simulator.payload(layout, times[first : first + SAMPLES_PER_PAYLOAD]))
        for first in range(0, len(times), SAMPLES_PER_PAYLOAD)
    ]
