"""factory-boy factories for every model. Hierarchies are built through the services, like real data."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from assets import services
from assets.constants import CELL_BLOCKS_PER_CASE, FETS_PER_BOARD, MAX_DOCKS
from assets.models import (
    Component,
    ComponentEvent,
    ControllerType,
    Installation,
    Kind,
    Position,
    Site,
    Status,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        for name in extracted or ():
            self.groups.add(Group.objects.get_or_create(name=name)[0])


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Site {n:03d}")
    # Never "-001": the tests name their own sites PMS-nn-001, and a sequence must not collide with them.
    pms_id = factory.Sequence(lambda n: f"PMS-{n:02d}-090")
    location = "Chiang Mai, Thailand"
    time_zone = "Asia/Bangkok"


class ComponentFactory(factory.django.DjangoModelFactory):
    """A component in stock with its child positions, as the receive service leaves it."""

    class Meta:
        model = Component
        skip_postgeneration_save = True

    kind = Kind.CELL_BLOCK
    serial = factory.Sequence(lambda n: f"SN{n:06d}")
    model_number = "M-1"
    manufacturer = "Acme Energy"
    supplier = "Acme Distribution"
    purchase_order = "PO-1000"
    status = Status.IN_STOCK
    dock_count = factory.Maybe(factory.LazyAttribute(lambda c: c.kind == Kind.BUSBAR), MAX_DOCKS, None)
    controller_type = factory.Maybe(
        factory.LazyAttribute(lambda c: c.kind == Kind.CONTROLLER), ControllerType.EHUB, ""
    )

    @factory.post_generation
    def positions(self, create, extracted, **kwargs):
        if create:
            services._create_child_positions([self])


class CaseFactory(ComponentFactory):
    kind = Kind.CASE
    serial = factory.Sequence(lambda n: f"{n + 100:04d}")


class BusbarFactory(ComponentFactory):
    kind = Kind.BUSBAR
    serial = factory.Sequence(lambda n: f"BB-{n:04d}")


class CabinetFactory(ComponentFactory):
    kind = Kind.CABINET
    serial = factory.Sequence(lambda n: f"CAB-{n:04d}")


class ControllerFactory(ComponentFactory):
    kind = Kind.CONTROLLER
    serial = factory.Sequence(lambda n: f"EH-{n:04d}")


class AcqBoardFactory(ComponentFactory):
    kind = Kind.ACQ_BOARD
    serial = factory.Sequence(lambda n: f"A{n + 1000:04d}")


class PositionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Position

    site = factory.SubFactory(SiteFactory)
    kind = Kind.CABINET
    number = 1


class InstallationFactory(factory.django.DjangoModelFactory):
    """An open installation made through the install service (status, event and history included)."""

    class Meta:
        model = Installation

    component = factory.SubFactory(CaseFactory)
    position = factory.LazyAttribute(
        lambda o: services.child_position_get(parent=BusbarFactory(), kind=Kind.CASE, number=1)
    )

    @classmethod
    def _create(cls, model_class, component, position, user=None, at=None, **kwargs):
        return services.component_install(
            component=component, position=position, user=user, at=at, reason="test"
        )


class ComponentEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ComponentEvent

    component = factory.SubFactory(ComponentFactory)
    type = ComponentEvent.Type.RECEIVED
    occurred_at = factory.Faker("date_time_this_year", tzinfo=__import__("datetime").timezone.utc)


def build_site(*, cabinets=1, docks=MAX_DOCKS, cases=True, pms_id=None, user=None, at=None, **site_fields):
    """A complete site hierarchy: cabinets with controller and busbar, each dock holding a case.

    Returns the site; ``site.test_docks[(cabinet, dock)]`` is the dock position and
    ``site.test_cases[(cabinet, dock)]`` the case installed there.
    """
    site = SiteFactory(**({"pms_id": pms_id} if pms_id else {}), **site_fields)
    site.test_docks, site.test_cases = {}, {}
    for cabinet_number in range(1, cabinets + 1):
        cabinet = CabinetFactory()
        services.component_install(
            component=cabinet,
            position=services.site_position_get_or_create(
                site=site, kind=Kind.CABINET, number=cabinet_number
            ),
            user=user,
            at=at,
        )
        controller = ControllerFactory(configured_id=site.pms_id)
        services.component_install(
            component=controller,
            position=services.child_position_get(parent=cabinet, kind=Kind.CONTROLLER),
            user=user,
            at=at,
        )
        busbar = BusbarFactory(dock_count=docks)
        services.component_install(
            component=busbar,
            position=services.child_position_get(parent=cabinet, kind=Kind.BUSBAR),
            user=user,
            at=at,
        )
        for dock_number in range(1, docks + 1):
            dock = services.child_position_get(parent=busbar, kind=Kind.CASE, number=dock_number)
            site.test_docks[(cabinet_number, dock_number)] = dock
            if cases:
                case = CaseFactory()
                services.component_install(
                    component=case, position=dock, user=user, at=at, confirm_incomplete=True
                )
                site.test_cases[(cabinet_number, dock_number)] = case
    return site


def case_parts():
    """Stock parts for ``services.case_assemble``: cell blocks, both boards and FETs, as keyword args."""
    return {
        "cell_blocks": ComponentFactory.create_batch(CELL_BLOCKS_PER_CASE, kind=Kind.CELL_BLOCK),
        "acq_board": AcqBoardFactory(),
        "fet_board": ComponentFactory(kind=Kind.FET_BOARD),
        "fets": ComponentFactory.create_batch(FETS_PER_BOARD, kind=Kind.FET),
    }


class ReattributionFactory(factory.django.DjangoModelFactory):
    """A re-attribution of ``installation``'s readings, running unless told otherwise; ``cases`` given."""

    class Meta:
        model = "telemetry.Reattribution"

    installation = factory.SubFactory(InstallationFactory)
    component = factory.LazyAttribute(lambda o: o.installation.component)
    changed_at = factory.LazyAttribute(lambda o: o.installation.installed_at)
    window_end = factory.LazyFunction(timezone.now)
    next_start = factory.LazyAttribute(lambda o: o.changed_at)
    updated_at = factory.LazyFunction(timezone.now)


# --- Procurement (stock) -----------------------------------------------------------------------------------


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "stock.Supplier"
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Supplier {n:03d}")
    contact = "sales@example.com"


def placed_order(*, lines, reference="PO-2026-001", supplier=None, user=None):
    """A placed purchase order with ``lines``, each a dict of purchase_order_line_add's arguments."""
    from stock import services as stock_services

    order = stock_services.purchase_order_create(
        supplier=supplier or SupplierFactory(), reference=reference, user=user
    )
    for line in lines:
        stock_services.purchase_order_line_add(order=order, user=user, **line)
    return stock_services.purchase_order_place(order=order, user=user)


def main_warehouse():
    """The warehouse deliveries go into."""
    from stock.models import StockLocation

    return StockLocation.objects.get_or_create(kind="warehouse", name="Bangkok WH")[0]
