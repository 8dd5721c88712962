"""Data the benchmarks share: sites built through the asset services, and simulated readings."""

import msgspec

from assets import services
from assets.models import Kind, Position
from telemetry.simulation import Simulator, sample_times, site_layout

SAMPLES_PER_PAYLOAD = 720
INSTALL_CHUNK = 500


def _receive(kind, serials, **fields):
    return services.components_receive(kind=kind, serials=serials, user=None, **fields)


def bench_site(*, pms_id, cabinets, at, docks=12, case_model=""):
    """A site of ``cabinets`` full cabinets (``docks`` cases each, of model ``case_model``), installed at
    ``at``."""
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
        cases = _receive(
            Kind.CASE, [f"C-{prefix}-{dock:02d}" for dock in range(1, docks + 1)], model_number=case_model
        )
        position = services.site_position_get_or_create(site=site, kind=Kind.CABINET, number=cabinet_number)
        services.component_install(component=cabinet, position=position, user=None, at=at)
        for part in (controller, busbar):
            position = services.child_position_get(parent=cabinet, kind=part.kind)
            services.component_install(component=part, position=position, user=None, at=at)
        for dock, case in enumerate(cases, start=1):
            position = services.child_position_get(parent=busbar, kind=Kind.CASE, number=dock)
            services.component_install(
                component=case, position=position, user=None, at=at, confirm_incomplete=True
            )
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


def bench_sites(*, prefix, count, docks, at):
    """``count`` sites of one full cabinet (``docks`` cases) each, received and installed in bulk: the same
    services as ``bench_site``, in a handful of calls for all of them."""
    pms_ids = [f"{prefix}-{number:04d}" for number in range(count)]
    sites = [
        services.site_create(
            name=f"Benchmark {pms_id}", pms_id=pms_id, user=None, time_zone="Asia/Bangkok", cabinets=1
        )
        for pms_id in pms_ids
    ]
    cabinets = _receive(Kind.CABINET, [f"CAB-{pms_id}" for pms_id in pms_ids])
    controllers = _receive(
        Kind.CONTROLLER,
        [f"EH-{pms_id}" for pms_id in pms_ids],
        controller_type="ehub",
        configured_ids={f"EH-{pms_id}": pms_id for pms_id in pms_ids},
    )
    busbars = _receive(Kind.BUSBAR, [f"BB-{pms_id}" for pms_id in pms_ids], dock_count=docks)
    cases = _receive(
        Kind.CASE, [f"C-{pms_id}-{dock:02d}" for pms_id in pms_ids for dock in range(1, docks + 1)]
    )
    on_sites = {position.site_id: position for position in Position.objects.filter(site__in=sites)}
    services.components_install(
        placements=[(cabinet, on_sites[site.pk]) for site, cabinet in zip(sites, cabinets, strict=True)],
        user=None,
        at=at,
    )
    in_cabinets = {
        (position.parent_id, position.kind): position
        for position in Position.objects.filter(parent__in=cabinets)
    }
    services.components_install(
        placements=[
            (part, in_cabinets[cabinet.pk, part.kind])
            for cabinet, controller, busbar in zip(cabinets, controllers, busbars, strict=True)
            for part in (controller, busbar)
        ],
        user=None,
        at=at,
    )
    docks_of = {
        (position.parent_id, position.number): position
        for position in Position.objects.filter(parent__in=busbars, kind=Kind.CASE)
    }
    placements = [
        (case, docks_of[busbars[index // docks].pk, index % docks + 1]) for index, case in enumerate(cases)
    ]
    # components_install sets the statuses in one UPDATE with a CASE per component, which grows with the
    # square of their number: 12,000 at once ran for minutes.
    for first in range(0, len(placements), INSTALL_CHUNK):
        services.components_install(
            placements=placements[first : first + INSTALL_CHUNK], user=None, at=at, confirm_incomplete=True
        )
    return sites
