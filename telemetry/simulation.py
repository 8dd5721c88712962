"""Realistic telemetry for the sites in the database, in exactly the gateways' payload format.

Every reading is a function of the site layout, the sample time and a seeded random stream, so a backfill is
reproducible. The story the data tells:

* a solar day in site-local time: packs charge from the morning to mid-afternoon, rest, then discharge
  through the evening and the night; MPPTs follow the sun, inverters follow the evening load;
* temperatures follow the day, the current and a slow drift over the week;
* one weak cell (cell 7 of the third pack of the first site) sags, more so under load;
* one pack of the first site opens its second FET for 15 minutes every 6 hours;
* one unlogged swap: from ``swap_at`` on, the first site's last case reports from the dock of the case
  before it, which has been taken out and no longer reports (the records still show both in their docks).
"""

import math
import random
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from assets.constants import CELL_BLOCKS_PER_CASE, LOAD_OUTPUTS, PV_INPUTS
from assets.models import Installation, Kind, Site
from assets.selectors import active_at, sites_installed_at

SAMPLE_SECONDS = 5
CAPACITY_AH = 100.0
WEAK_CELL = 7
OPEN_FET_PERIOD = 6 * 3600
OPEN_FET_SECONDS = 15 * 60
# State of charge over a local day: (hour, fraction). The slope gives the current.
SOC_PROFILE = ((0, 0.55), (6, 0.30), (8, 0.32), (14, 0.95), (18, 0.95), (22, 0.70), (24, 0.55))
# The text of every value a cell voltage (in millivolts) or a temperature (in tenths of a degree) can take
# here: the simulated climate stays well above freezing.
_MILLIVOLTS = [f"{mv / 1000:.3f}" for mv in range(5000)]
_DECIDEGREES = [f"{t / 10:.1f}" for t in range(1500)]


@dataclass(frozen=True)
class Pack:
    pack_id: str  # the Case id, or the acquisition board id for boards without a configured Case id
    pms_dock: int


@dataclass(frozen=True)
class SiteLayout:
    pms_id: str
    time_zone: str
    packs: tuple[Pack, ...]
    mppt_ids: tuple[str, ...]
    inverter_ids: tuple[str, ...]


def site_layouts(at, pms_ids=None):
    """The layouts at ``at`` of the sites (all, or those of ``pms_ids``) that hold packs, by PMS id."""
    sites = Site.objects.order_by("pms_id")
    if pms_ids:
        sites = sites.filter(pms_id__in=pms_ids)
    return [layout for layout in _layouts(list(sites), at) if layout.packs]


def site_layout(site, at):
    """What ``site`` holds at ``at``: its packs (by PMS-wide dock) and its MPPT and inverter ids."""
    [layout] = _layouts([site], at)
    return layout


def _layouts(sites, at):
    installed = sites_installed_at(site_ids=[site.pk for site in sites], at=at)
    docks = {site.pk: installed[site.pk].cases for site in sites}  # in PMS-wide dock order
    # Boards without a configured Case id report their own id as the pack id.
    unconfigured_boards = {
        i.position.parent_id: i.component.serial
        for i in Installation.objects.filter(
            active_at(at),
            position__kind=Kind.ACQ_BOARD,
            position__parent__in=[dock.case.pk for site_docks in docks.values() for dock in site_docks],
        ).select_related("component", "position")
        if not i.component.configured_id
    }
    return [
        SiteLayout(
            pms_id=site.pms_id,
            time_zone=site.time_zone,
            packs=tuple(
                Pack(pack_id=unconfigured_boards.get(dock.case.pk, dock.case.serial), pms_dock=dock.pms_dock)
                for dock in docks[site.pk]
            ),
            mppt_ids=_device_ids(installed[site.pk].mppts),
            inverter_ids=_device_ids(installed[site.pk].inverters),
        )
        for site in sites
    ]


def _device_ids(devices):
    return tuple(device.configured_id for device in devices if device.configured_id)


def sample_times(start, end, step=SAMPLE_SECONDS):
    """Sample instants on the ``step``-second grid in [start, end)."""
    first = math.ceil(start.timestamp() / step) * step
    return [datetime.fromtimestamp(s, UTC) for s in range(first, math.ceil(end.timestamp()), step)]


def format_time_local(at, tz):
    """ISO 8601 basic with milliseconds and the site's UTC offset: 20190209T150006.032+0700."""
    local = at.astimezone(tz)
    return local.strftime("%Y%m%dT%H%M%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def _soc_and_slope(hour):
    for (h0, s0), (h1, s1) in pairwise(SOC_PROFILE):
        if hour < h1:
            slope = (s1 - s0) / (h1 - h0)
            return s0 + slope * (hour - h0), slope
    return SOC_PROFILE[-1][1], 0.0


def _cell_ocv(soc):
    return 3.45 + 0.7 * soc


def _sun(hour):
    return max(0.0, math.sin(math.pi * (hour - 6) / 12))


@dataclass(frozen=True)
class _Conditions:
    """What the whole site shares at one instant."""

    time_local: str
    soc: float
    amps: float
    sun: float
    ambient: float
    hour: float


class Simulator:
    """Readings for ``layouts``; the weak cell, the open FET and the unlogged swap are on the first site."""

    def __init__(self, layouts, *, swap_at, seed=1, faults=None):
        """``faults``: a telemetry.faults.FaultPlan to inject instead of the demo's weak cell."""
        self.layouts = layouts
        self.swap_at = swap_at
        self.seed = seed
        self.faults = faults
        first = layouts[0].packs if layouts else ()
        # Each cell sits a few millivolts off the pack's mean, the same way every time; the weak cell sags.
        self._cell_offsets = {
            pack.pack_id: [((pack.pms_dock * 31 + n * 17) % 11) - 5 for n in range(CELL_BLOCKS_PER_CASE)]
            for layout in layouts
            for pack in layout.packs
        }
        self.weak_pack = first[2].pack_id if len(first) > 2 and faults is None else None
        if self.weak_pack:
            self._cell_offsets[self.weak_pack][WEAK_CELL - 1] -= 60
        self.open_fet_pack = first[4].pack_id if len(first) > 4 else None
        # The unlogged swap, unless swap_at is None:
        # (site, case that moves, the dock it moves to, the case taken out of that dock).
        self.swap = None
        if swap_at is not None and len(first) > 1:
            self.swap = (layouts[0].pms_id, first[-1].pack_id, first[-2].pms_dock, first[-2].pack_id)

    def payload(self, layout, times):
        """One envelope with every reading of ``layout`` at ``times``, numbers as strings as gateways send."""
        rng = random.Random(f"{self.seed}:{layout.pms_id}:{times[0].timestamp() if times else 0}")
        tz = zoneinfo.ZoneInfo(layout.time_zone)
        if self.faults is not None:
            times = [at for at in times if not self.faults.in_gap(layout.pms_id, at)]
        conditions = [self._conditions(at, tz) for at in times]
        pack_data = []
        for at, site in zip(times, conditions, strict=True):
            for pack in layout.packs:
                reading = self._pack_reading(layout, pack, at, site, rng)
                if reading is not None:
                    pack_data.append({"time_local": site.time_local, "pack": reading})
        datasets = [{"pms": {"id": layout.pms_id}, "data": pack_data}]
        pack_count = len(layout.packs)
        for number, device_id in enumerate(layout.mppt_ids):
            share = pack_count / len(layout.mppt_ids)
            data = [self._mppt_reading(site, share, number, rng) for site in conditions]
            datasets.append({"mppt": {"id": device_id}, "data": data})
        for device_id in layout.inverter_ids:
            data = [self._inverter_reading(site, pack_count, rng) for site in conditions]
            datasets.append({"inverter": {"id": device_id}, "data": data})
        return {"datasets": datasets}

    def _conditions(self, at, tz):
        local = at.astimezone(tz)
        hour = local.hour + local.minute / 60 + local.second / 3600
        soc, slope = _soc_and_slope(hour)
        days = at.timestamp() / 86400
        ambient = 27 + 5 * math.sin(math.pi * (hour - 9) / 12) + 1.5 * math.sin(2 * math.pi * days / 7)
        return _Conditions(
            time_local=format_time_local(at, tz),
            soc=soc,
            amps=slope * CAPACITY_AH,
            sun=_sun(hour),
            ambient=ambient,
            hour=hour,
        )

    def _pack_reading(self, layout, pack, at, site, rng):
        dock = pack.pms_dock
        if self.swap is not None and at >= self.swap_at and layout.pms_id == self.swap[0]:
            _, mover, new_dock, taken_out = self.swap
            if pack.pack_id == taken_out:
                return None
            if pack.pack_id == mover:
                dock = new_dock
        spread = (pack.pms_dock % 7 - 3) / 100  # packs share the current a little unevenly
        amps = site.amps * (1 + spread) + (rng.random() - 0.5) * 0.4
        # Millivolts and tenths of a degree, formatted through lookup tables: a day's backfill is ~550k packs.
        cell_mv = round(1000 * _cell_ocv(site.soc) + 0.8 * amps)
        offsets = self._cell_offsets[pack.pack_id]
        bits = rng.getrandbits
        cells = [cell_mv + offset + bits(3) - 4 for offset in offsets]
        if pack.pack_id == self.weak_pack:
            cells[WEAK_CELL - 1] -= round(3 * abs(amps))
        temp = round(10 * (site.ambient + 0.15 * abs(amps))) + (pack.pms_dock % 5) * 4
        if self.faults is not None:
            self.faults.cell_millivolts(pack.pack_id, cells, amps=amps, soc=site.soc, at=at)
            temp += self.faults.extra_decidegrees(pack.pack_id)
        fet_open = []
        if pack.pack_id == self.open_fet_pack and at.timestamp() % OPEN_FET_PERIOD < OPEN_FET_SECONDS:
            fet_open = [2]
        return {
            "id": pack.pack_id,
            "dock": dock,
            "volts": f"{sum(cells) / 1000:.2f}",
            "amps": f"{amps:.3f}",
            "temp": [_DECIDEGREES[temp + bits(2)], _DECIDEGREES[temp - 8 + bits(2)], _DECIDEGREES[temp + 5]],
            "cell": {"open": [], "volts": [_MILLIVOLTS[mv] for mv in cells]},
            "fet": {
                "open": fet_open,
                "temp": [_DECIDEGREES[temp + 6 + round(abs(amps) / 2)], _DECIDEGREES[temp + 3]],
            },
        }

    def _mppt_reading(self, site, pack_share, number, rng):
        """MPPT ``number`` charges ``pack_share`` packs' worth of current while the sun is up."""
        pv_volts = (92 + 8 * site.sun) * (site.sun > 0)
        pv_amps = 9.0 * site.sun * (1 - 0.05 * number)
        batt_volts = CELL_BLOCKS_PER_CASE * _cell_ocv(site.soc)
        charge = max(site.amps, 0.0) * pack_share
        return {
            "time_local": site.time_local,
            "pv": {
                "volts": [f"{pv_volts + rng.random():.3f}" for _ in range(PV_INPUTS)],
                "amps": [f"{pv_amps + rng.random() * 0.1:.1f}" for _ in range(PV_INPUTS)],
            },
            "batt": {"volts": f"{batt_volts:.1f}", "amps": f"{charge:.3f}"},
            "load": {
                "volts": ["48.000", "48.000"],
                "amps": [f"{1.2 + rng.random() * 0.1:.1f}" for _ in range(LOAD_OUTPUTS)],
            },
        }

    def _inverter_reading(self, site, pack_count, rng):
        evening = 18 <= site.hour < 23
        load_amps = (9.0 if evening else 3.0) + rng.random()
        return {
            "time_local": site.time_local,
            "pv": {"volts": ["0.000", "0.000"], "amps": ["0.0", "0.0"]},
            "batt": {
                "volts": f"{CELL_BLOCKS_PER_CASE * _cell_ocv(site.soc):.1f}",
                "amps": f"{min(site.amps, 0.0) * pack_count:.3f}",
            },
            "load": {"volts": ["230.000", "230.000"], "amps": [f"{load_amps:.1f}", f"{load_amps * 0.8:.1f}"]},
        }


def default_swap_at(now):
    """The unlogged swap happened on the hour, six hours before ``now``."""
    return (now - timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)
