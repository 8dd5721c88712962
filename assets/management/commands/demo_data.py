"""Two demo sites with complete hierarchies, spare stock and a past swap, built through the services.

Safe to run on every `make run`: once the demo sites exist it only makes sure the demo users exist.
The ids line up with the gateway samples: PMS-01-001 reports pack 0241 in dock 1 and 0242 in dock 2, MPPT
IT6415AD-01-001 and inverter SPI-B2-01-001.
"""

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from assets import services
from assets.constants import CELL_BLOCKS_PER_CASE, FETS_PER_BOARD
from assets.models import ControllerType, Kind, Site, Status
from assets.permissions import FIELD_ENGINEER, MANAGER, WAREHOUSE

# The demo users and their roles (groups created by migration 0003_roles).
DEMO_USERS = {"warehouse": WAREHOUSE, "engineer": FIELD_ENGINEER, "manager": MANAGER}


CASE_MODEL = "LFP-48V-100Ah"


@dataclass(frozen=True)
class DemoSite:
    name: str
    pms_id: str
    location: str
    docks_per_cabinet: tuple[int, ...]
    first_case: int
    mppt_ids: tuple[str, ...]
    inverter_ids: tuple[str, ...]
    # Cases whose acquisition board predates Case id configuration: its gateway reports the board id.
    cases_with_unconfigured_board: tuple[str, ...] = ()


DEMO_SITES = (
    DemoSite(
        name="Doi Saket Microgrid",
        pms_id="PMS-01-001",
        location="Doi Saket, Chiang Mai, Thailand",
        docks_per_cabinet=(12, 12),
        first_case=241,
        mppt_ids=("IT6415AD-01-001", "IT6415AD-01-002"),
        inverter_ids=("SPI-B2-01-001",),
        cases_with_unconfigured_board=("0258", "0259", "0260"),
    ),
    DemoSite(
        name="Mae On Clinic",
        pms_id="PMS-02-001",
        location="Mae On, Chiang Mai, Thailand",
        docks_per_cabinet=(8,),
        first_case=301,
        mppt_ids=("IT6415AD-02-001",),
        inverter_ids=("SPI-B2-02-001",),
    ),
)
TIME_ZONE = "Asia/Bangkok"
COMMISSIONED_DAYS_AGO = 120
# The past swap: the first site's case in cabinet 1 dock 5 went faulty and was replaced by a spare.
SWAP_DAYS_AGO = 30
SWAPPED_DOCK = (1, 5)
REPLACEMENT_CASE = "0401"
SPARE_CASES = ("0402", "0403")
SPARE_CELL_BLOCKS = 6


def case_id(number):
    return f"{number:04d}"


class Serials:
    """Sequential serials per kind, in the style printed on the parts."""

    def __init__(self):
        self.counters = {}

    def take(self, prefix, count, width=5):
        start = self.counters.get(prefix, 1)
        self.counters[prefix] = start + count
        return [f"{prefix}{n:0{width}d}" for n in range(start, start + count)]


class Command(BaseCommand):
    help = "Create the demo sites (complete hierarchies, spare stock, a past swap) and the demo users."

    def add_arguments(self, parser):
        parser.add_argument(
            "--admin-password-file",
            type=Path,
            help="Create superuser 'admin' and the demo users warehouse, engineer and manager with the "
            "password kept in this file (generated on first use, mode 600).",
        )

    def handle(self, *args, admin_password_file=None, **options):
        users = {}
        if admin_password_file:
            users = self.ensure_users(admin_password_file)
        demo_pms_ids = [site.pms_id for site in DEMO_SITES]
        if Site.objects.filter(pms_id__in=demo_pms_ids).exists():
            self.stdout.write("Demo sites already exist; left as they are.")
            return
        with transaction.atomic():
            DemoBuilder(receiver=users.get("warehouse"), engineer=users.get("engineer")).build()
            services.part_model_create(
                model_number=CASE_MODEL,
                kind=Kind.CASE,
                nominal_ah=Decimal(100),
                nominal_volts=Decimal("51.2"),
            )
        self.stdout.write(self.style.SUCCESS(f"Demo sites created: {', '.join(demo_pms_ids)}."))

    def ensure_users(self, password_file):
        password, is_new_password = read_or_create_password(password_file)
        User = get_user_model()
        users = {}
        for username, group_name in {"admin": None, **DEMO_USERS}.items():
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "email": f"{username}@example.com",
                    "is_staff": True,
                    "is_superuser": not group_name,
                },
            )
            if created or is_new_password:
                user.set_password(password)
                user.save(update_fields=["password"])
            if group_name:
                user.groups.add(Group.objects.get_or_create(name=group_name)[0])
            users[username] = user
        names = ", ".join(["admin", *DEMO_USERS])
        self.stdout.write(f"Log in as {names} with password: {password}  (kept in {password_file})")
        return users


def read_or_create_password(path):
    """The password kept in ``path``, or a new one written there readable by its owner only."""
    if path.exists():
        return path.read_text().strip(), False
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(password + "\n")
    return password, True


class DemoBuilder:
    """Receives every part in bulk per kind, then assembles and installs through the services."""

    def __init__(self, *, receiver, engineer):
        self.receiver = receiver
        self.engineer = engineer
        self.serials = Serials()
        self.commissioned_at = timezone.now() - timedelta(days=COMMISSIONED_DAYS_AGO)
        # (PMS id, cabinet number, dock number) -> (dock position, the case installed there)
        self.docks = {}

    def build(self):
        for number, demo_site in enumerate(DEMO_SITES, start=1):
            self.build_site(demo_site, site_number=number)
        self.build_spares_and_past_swap()

    def receive(self, kind, serials, **fields):
        return services.components_receive(
            kind=kind,
            serials=serials,
            user=self.receiver,
            supplier="Lanna Battery Systems",
            purchase_order=f"PO-{self.commissioned_at:%Y}-0042",
            received_on=self.commissioned_at.date(),
            **fields,
        )

    def install(self, *placements):
        """Install (component, position) pairs at commissioning, all at once."""
        return services.components_install(
            placements=placements, user=self.engineer, reason="Commissioning", at=self.commissioned_at
        )

    def build_site(self, demo_site, *, site_number):
        site = services.site_create(
            name=demo_site.name,
            pms_id=demo_site.pms_id,
            user=self.engineer,
            time_zone=TIME_ZONE,
            location=demo_site.location,
            cabinets=len(demo_site.docks_per_cabinet),
            mppts=len(demo_site.mppt_ids),
            inverters=len(demo_site.inverter_ids),
        )
        cabinet_count = len(demo_site.docks_per_cabinet)
        prefix = f"{site_number:02d}"
        cabinets = self.receive(Kind.CABINET, [f"CAB-{prefix}{n}" for n in range(1, cabinet_count + 1)])
        controllers = self.receive(
            Kind.CONTROLLER,
            [f"EH-{prefix}{n}" for n in range(1, cabinet_count + 1)],
            model_number="EHub-2",
            controller_type=ControllerType.EHUB,
            configured_ids={f"EH-{prefix}{n}": demo_site.pms_id for n in range(1, cabinet_count + 1)},
        )
        next_case = demo_site.first_case
        for number, (cabinet, controller, docks) in enumerate(
            zip(cabinets, controllers, demo_site.docks_per_cabinet, strict=True), start=1
        ):
            [busbar] = self.receive(
                Kind.BUSBAR, [f"BB-{prefix}{number:02d}"], model_number=f"BB-{docks}", dock_count=docks
            )
            self.install(
                (cabinet, services.site_position_get_or_create(site=site, kind=Kind.CABINET, number=number))
            )
            self.install(
                (controller, services.child_position_get(parent=cabinet, kind=Kind.CONTROLLER)),
                (busbar, services.child_position_get(parent=cabinet, kind=Kind.BUSBAR)),
            )
            case_ids = [case_id(n) for n in range(next_case, next_case + docks)]
            next_case += docks
            cases = self.assembled_cases(case_ids, unconfigured=demo_site.cases_with_unconfigured_board)
            busbar_docks = busbar.child_positions.order_by("number")
            self.install(*zip(cases, busbar_docks, strict=True))
            for dock, case in zip(busbar_docks, cases, strict=True):
                self.docks[(demo_site.pms_id, number, dock.number)] = (dock, case)
        for kind, device_ids, model_number in (
            (Kind.MPPT, demo_site.mppt_ids, "IT6415AD"),
            (Kind.INVERTER, demo_site.inverter_ids, "SPI-B2"),
        ):
            serials = self.serials.take(f"{model_number}-SN", len(device_ids))
            devices = self.receive(
                kind,
                serials,
                model_number=model_number,
                configured_ids=dict(zip(serials, device_ids, strict=True)),
            )
            self.install(
                *(
                    (device, services.site_position_get_or_create(site=site, kind=kind, number=number))
                    for number, device in enumerate(devices, start=1)
                )
            )

    def assembled_cases(self, case_ids, *, unconfigured=()):
        """Receive cases with all their parts and assemble them; the acquisition boards store the Case id."""
        count = len(case_ids)
        cases = self.receive(Kind.CASE, case_ids, model_number=CASE_MODEL)
        cell_blocks = self.receive(
            Kind.CELL_BLOCK,
            self.serials.take("CB", count * CELL_BLOCKS_PER_CASE, width=6),
            model_number="LFP-100",
        )
        board_serials = self.serials.take("A", count, width=4)
        acq_boards = self.receive(
            Kind.ACQ_BOARD,
            board_serials,
            model_number="ACQ-14S",
            configured_ids={
                board: case
                for board, case in zip(board_serials, case_ids, strict=True)
                if case not in unconfigured
            },
        )
        fet_boards = self.receive(
            Kind.FET_BOARD, self.serials.take("FB", count, width=4), model_number="FET-2"
        )
        fets = self.receive(Kind.FET, self.serials.take("FET", count * FETS_PER_BOARD), model_number="MOS-80")
        for index, case in enumerate(cases):
            services.case_assemble(
                case=case,
                user=self.receiver,
                cell_blocks=cell_blocks[index * CELL_BLOCKS_PER_CASE : (index + 1) * CELL_BLOCKS_PER_CASE],
                acq_board=acq_boards[index],
                fet_board=fet_boards[index],
                fets=fets[index * FETS_PER_BOARD : (index + 1) * FETS_PER_BOARD],
                at=self.commissioned_at,
            )
        return cases

    def build_spares_and_past_swap(self):
        replacement, *_ = self.assembled_cases([REPLACEMENT_CASE, *SPARE_CASES])
        self.receive(
            Kind.CELL_BLOCK, self.serials.take("CB", SPARE_CELL_BLOCKS, width=6), model_number="LFP-100"
        )
        dock, old_case = self.docks[(DEMO_SITES[0].pms_id, *SWAPPED_DOCK)]
        services.component_swap(
            position=dock,
            old_component=old_case,
            new_component=replacement,
            user=self.engineer,
            reason="Cell block 7 will not hold its voltage",
            old_component_status=Status.FAULTY,
            at=timezone.now() - timedelta(days=SWAP_DAYS_AGO),
        )
