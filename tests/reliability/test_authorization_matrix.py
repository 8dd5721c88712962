"""Who may open what: every URL pattern of the URLconf x every role x GET and POST, against the table below.

Allowed: the answer is not a refusal (it may still be a 400, 404 or 405); denied: it is one, a 401, a 403 or
a redirect to a login page that comes back (``?next=``). No answer is ever a 500. A URL pattern missing
from the table fails the test: a new URL needs its row.

Roles are the groups of assets migration 0003 and alarms migration 0002 (staff users, as the demo makes
them), plus a gateway token of site A. The world holds an MPPT that moved from site A to site B.
"""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from alarms.models import Alarm
from assets import services
from assets.models import Case, Component, ComponentEvent, Installation, Kind, PartModel, Site
from stock.models import LowStockAlert, PurchaseOrder, SpareLevel, StockLocation
from stock.services import component_reserve, repair_send
from telemetry.models import (
    DeviceKind,
    DeviceState,
    Discrepancy,
    IngestBatch,
    QuarantinedRecord,
    WorkerHeartbeat,
)
from telemetry.services import gateway_token_create
from tests.alarms.helpers import raised_alarm, report
from tests.factories import (
    ComponentFactory,
    ReattributionFactory,
    SupplierFactory,
    UserFactory,
    build_site,
    main_warehouse,
    placed_order,
)
from tests.telemetry.payloads import dataset, device_record, envelope

pytestmark = pytest.mark.django_db

ANONYMOUS, WAREHOUSE, FIELD, MANAGER, GATEWAY = "A", "W", "F", "M", "G"
ROLES = {ANONYMOUS: "anonymous", WAREHOUSE: "warehouse", FIELD: "field engineer", MANAGER: "manager",
         GATEWAY: "gateway token"}  # fmt: skip
GROUPS = {WAREHOUSE: "Warehouse", FIELD: "Field engineer", MANAGER: "Manager"}
STAFF = WAREHOUSE + FIELD + MANAGER
ANYONE = ANONYMOUS + STAFF + GATEWAY
NOBODY = ""


def url_patterns(patterns=None, prefix=""):
    """Every URL pattern as its full route text, e.g. 'api/v1/^sites/(?P<pk>[^/.]+)/$'."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            yield prefix + str(pattern.pattern)


@dataclass
class World:
    site_a: Site
    site_b: Site
    case: Case
    installation: Installation
    moved_mppt: Component
    cabinet: Component
    event: ComponentEvent
    alarm: Alarm
    order: PurchaseOrder
    stock_location: StockLocation
    gateway_token: str
    users: dict

    @property
    def order_line(self):
        return self.order.lines.get()

    def admin_object(self, model):
        """A row of each model registered in the admin (the world makes one of every kind)."""
        row = model._default_manager.order_by("pk").first()
        assert row is not None, f"The world has no {model._meta.label}: add one to build_world"
        return row


def build_world():
    now = timezone.now()
    users = {role: UserFactory(username=ROLES[role].replace(" ", "_"), is_staff=True, groups=[group])
             for role, group in GROUPS.items()}  # fmt: skip
    site_a = build_site(cabinets=1, docks=4, pms_id="PMS-01-001", at=now - timedelta(days=3))
    site_b = build_site(cabinets=1, docks=4, pms_id="PMS-02-001", at=now - timedelta(days=3))
    case = site_a.test_cases[(1, 1)]
    moved_mppt = ComponentFactory(kind=Kind.MPPT, configured_id="IT6415AD-01-001")
    for site, installed_at in [(site_a, now - timedelta(days=2)), (site_b, now - timedelta(days=1))]:
        if installed_at > now - timedelta(days=2):
            services.component_remove(component=moved_mppt, user=None, reason="moved", at=installed_at)
        services.component_install(
            confirm_incomplete=True,
            component=moved_mppt,
            position=services.site_position_get_or_create(site=site, kind=Kind.MPPT, number=1),
            user=None,
            at=installed_at,
        )
    token, raw_token = gateway_token_create(site=site_a, name="gateway")
    batch = IngestBatch.objects.create(site=site_a, token=token, payload=b'{"datasets": []}')
    QuarantinedRecord.objects.create(
        batch=batch, kind="pms", device_id="PMS-01-001", dataset_index=0, record_index=0, record="{}",
        reason="test",
    )  # fmt: skip
    Discrepancy.objects.create(
        case=case, kind=Discrepancy.Kind.OTHER_CASE, observed_site=site_a, observed_dock=2,
        recorded_site=site_a, recorded_dock=1, first_seen=now, last_seen=now,
    )  # fmt: skip
    report(case, site_a, now)
    DeviceState.objects.create(
        device=moved_mppt, kind=DeviceKind.MPPT, site=site_b, time=now, updated_at=now,
        utc_offset_minutes=420, pv_volts=[48.0], pv_amps=[6.0], batt_volts=55.1, batt_amps=-1.6,
        load_volts=[48.0], load_amps=[1.2],
    )  # fmt: skip
    WorkerHeartbeat.objects.create(hostname="worker@test", beat_at=now)
    installation = Installation.objects.get(component=case, removed_at=None)
    ReattributionFactory(installation=installation, cases=[case.pk])
    PartModel.objects.create(model_number="LFP-100", kind=Kind.CASE, nominal_ah=100, nominal_volts=51.2)
    level = SpareLevel.objects.create(kind=Kind.CASE, minimum=5)
    LowStockAlert.objects.create(level=level, raised_at=now, in_stock=0)
    faulty = ComponentFactory(kind=Kind.CASE, status="faulty")
    repair_send(component=faulty, supplier=SupplierFactory(), rma_number="RMA-1", user=None)
    component_reserve(component=ComponentFactory(kind=Kind.CASE), reason="a swap", user=None)
    Token.objects.create(user=users[MANAGER])
    login = {
        "user_agent": "test",
        "ip_address": "127.0.0.1",
        "username": "nobody",
        "path_info": "/accounts/login/",
    }
    AccessAttempt.objects.create(**login, get_data="", post_data="", failures_since_start=1)
    AccessFailureLog.objects.create(**login)
    AccessLog.objects.create(**login)
    return World(
        site_a=site_a,
        site_b=site_b,
        case=case,
        installation=installation,
        moved_mppt=moved_mppt,
        cabinet=Component.objects.filter(kind=Kind.CABINET).first(),
        event=case.events.first(),
        alarm=raised_alarm(site_a, case),
        order=placed_order(lines=[{"kind": Kind.CASE, "quantity": 2}]),
        stock_location=main_warehouse(),
        gateway_token=raw_token,
        users=users,
    )


# --- The table ------------------------------------------------------------------------------------------
# route: (sample path, roles allowed to GET, roles allowed to POST). The sample path is formatted with the
# World as ``w``.

MONITOR = STAFF  # web.navigation.MONITOR_PERMS: every role views sites and components
API_READ = STAFF  # every role holds the view permission of every asset model


def api_routes(resource, sample_pk, post_roles):
    """The router's list and detail routes of ``resource`` (with their .json forms)."""
    return {
        f"api/v1/^{resource}/$": (f"/api/v1/{resource}/", API_READ, post_roles),
        f"api/v1/^{resource}\\.(?P<format>[a-z0-9]+)/?$": (f"/api/v1/{resource}.json", API_READ, post_roles),
        f"api/v1/^{resource}/(?P<pk>[^/.]+)/$": (f"/api/v1/{resource}/{sample_pk}/", API_READ, post_roles),
        f"api/v1/^{resource}/(?P<pk>[^/.]+)\\.(?P<format>[a-z0-9]+)/?$": (
            f"/api/v1/{resource}/{sample_pk}.json",
            API_READ,
            post_roles,
        ),
    }


def api_action(resource, action, path, roles):
    """A POST action: GET is refused (403) to those who may not POST it, and 405 to those who may."""
    return {
        f"api/v1/^{resource}/{action}/$": (f"/api/v1/{path}/", roles, roles),
        f"api/v1/^{resource}/{action}\\.(?P<format>[a-z0-9]+)/?$": (f"/api/v1/{path}.json", roles, roles),
    }


def api_read_action(resource, action, query, post_roles):
    """A GET action answering ``query``, for every role that reads the API. A POST is a 405 to the
    ``post_roles`` (the model permissions' add), refused to the others."""
    return {
        f"api/v1/^{resource}/{action}/$": (f"/api/v1/{resource}/{action}/?{query}", API_READ, post_roles),
        f"api/v1/^{resource}/{action}\\.(?P<format>[a-z0-9]+)/?$": (
            f"/api/v1/{resource}/{action}.json?{query}",
            API_READ,
            post_roles,
        ),
    }


PAGES = {
    # Web pages (web.views.page: login, then the permissions).
    "": ("/", STAFF, STAFF),
    "fleet/": ("/fleet/", MONITOR, MONITOR),
    "fleet/attention/": ("/fleet/attention/", MONITOR, MONITOR),
    "fleet/attention.csv": ("/fleet/attention.csv", MONITOR, MONITOR),
    "sites/<int:pk>/": ("/sites/{w.site_a.pk}/", MONITOR, MONITOR),
    "sites/<int:pk>/live/": ("/sites/{w.site_a.pk}/live/", MONITOR, MONITOR),
    "sites/<int:pk>/series.json": ("/sites/{w.site_a.pk}/series.json", MONITOR, MONITOR),
    "sites/<int:pk>/readings.csv": ("/sites/{w.site_a.pk}/readings.csv", MONITOR, MONITOR),
    "cases/<serial:serial>/": ("/cases/{w.case.serial}/", MONITOR, MONITOR),
    "cases/<serial:serial>/series.json": ("/cases/{w.case.serial}/series.json", MONITOR, MONITOR),
    "cases/<serial:serial>/readings.csv": ("/cases/{w.case.serial}/readings.csv", MONITOR, MONITOR),
    "devices/<int:pk>/readings.csv": ("/devices/{w.moved_mppt.pk}/readings.csv", MONITOR, MONITOR),
    "discrepancies/": ("/discrepancies/", MONITOR, MONITOR),
    "search/": ("/search/?q={w.case.serial}", MONITOR, MONITOR),
    "field/": ("/field/", FIELD, FIELD),
    "field/find-case/": ("/field/find-case/?case={w.case.serial}", FIELD, FIELD),
    "field/sites/<int:pk>/": ("/field/sites/{w.site_a.pk}/", FIELD, FIELD),
    "field/positions/<int:pk>/": ("/field/positions/{w.installation.position_id}/", FIELD, FIELD),
    "field/positions/<int:pk>/<str:action>/": (
        "/field/positions/{w.installation.position_id}/replace/",
        FIELD,
        FIELD,
    ),
    "field/cases/<int:pk>/": ("/field/cases/{w.case.pk}/", FIELD, FIELD),
    "field/changes/<int:pk>/": ("/field/changes/{w.installation.pk}/", MONITOR, MONITOR),
    "accounts/login/": ("/accounts/login/", ANYONE, ANYONE),
    "accounts/logout/": ("/accounts/logout/", ANYONE, ANYONE),
    "favicon.ico": ("/favicon.ico", ANYONE, ANYONE),
    # Alarms: every role views them; field engineers and managers acknowledge.
    "alarms/": ("/alarms/", STAFF, STAFF),
    "alarms/<int:pk>/acknowledge/": ("/alarms/{w.alarm.pk}/acknowledge/", FIELD + MANAGER, FIELD + MANAGER),
    # The API: reads need the model's view permission, writes the permissions of the service they call.
    "api/schema/": ("/api/schema/", STAFF, STAFF),
    "api/docs/": ("/api/docs/", STAFF, STAFF),
    "api/redoc/": ("/api/redoc/", STAFF, STAFF),
    "api/v1/": ("/api/v1/", STAFF, STAFF),
    "api/v1/<drf_format_suffix:format>": ("/api/v1/.json", STAFF, STAFF),
    "api/v1/ingest/": ("/api/v1/ingest/", GATEWAY, GATEWAY),
    **api_routes("sites", "{w.site_a.pk}", WAREHOUSE),
    **api_routes("components", "{w.case.pk}", WAREHOUSE),
    **api_routes("cases", "{w.case.pk}", WAREHOUSE),
    **api_routes("cabinets", "{w.cabinet.pk}", WAREHOUSE),
    **api_routes("positions", "{w.installation.position_id}", NOBODY),
    **api_routes("installations", "{w.installation.pk}", FIELD),
    **api_routes("events", "{w.event.pk}", NOBODY),
    **api_action(
        "components", "(?P<pk>[^/.]+)/set_status", "components/{w.case.pk}/set_status", WAREHOUSE + FIELD
    ),
    **api_action("installations", "install", "installations/install", FIELD),
    **api_action("installations", "remove", "installations/remove", FIELD),
    **api_action("installations", "swap", "installations/swap", FIELD),
    # Receiving, into a stock location: the warehouse (assets.add_component, as the admin's receive page).
    **api_action("stock", "receive", "stock/receive", WAREHOUSE),
    # As-of reads: for every role that views installations.
    **api_read_action("as-of", "dock", "pms_id={w.site_a.pms_id}&dock=1", FIELD),
    **api_read_action("as-of", "case", "serial={w.case.serial}", FIELD),
    **api_read_action("as-of", "board", "serial=none", FIELD),
    # The admin's own pages: for staff; the login and logout pages for anyone.
    "admin/": ("/admin/", STAFF, STAFF),
    "admin/login/": ("/admin/login/", ANYONE, ANYONE),
    "admin/logout/": ("/admin/logout/", ANYONE, ANYONE),
    "admin/password_change/": ("/admin/password_change/", STAFF, STAFF),
    "admin/password_change/done/": ("/admin/password_change/done/", STAFF, STAFF),
    # No admin declares autocomplete fields, so every autocomplete request is refused (a POST is a 405).
    "admin/autocomplete/": ("/admin/autocomplete/", NOBODY, STAFF),
    "admin/jsi18n/": ("/admin/jsi18n/", STAFF, STAFF),
    "admin/r/<path:content_type_id>/<path:object_id>/": ("/admin/r/{site_type}/{w.site_a.pk}/", STAFF, STAFF),
    "admin/^(?P<app_label>auth|authtoken|assets|stock|telemetry|alarms|axes)/$": (
        "/admin/assets/",
        STAFF,
        STAFF,
    ),
    "admin/(?P<url>.*)$": ("/admin/no-such-page/", STAFF, STAFF),
    "admin/auth/user/<id>/password/": ("/admin/auth/user/{w.users[M].pk}/password/", NOBODY, NOBODY),
    "admin/assets/component/receive/": ("/admin/assets/component/receive/", WAREHOUSE, WAREHOUSE),
    "admin/assets/case/assemble/": ("/admin/assets/case/assemble/", WAREHOUSE, WAREHOUSE),
    # Procurement: the warehouse edits and receives orders; the others read them (stock.permissions).
    **{
        f"admin/stock/purchaseorder/<int:object_id>/{page}/": (
            f"/admin/stock/purchaseorder/{{w.order.pk}}/{page}/",
            WAREHOUSE,
            WAREHOUSE,
        )
        for page in ("add-line", "place", "cancel")
    },
    **{
        f"admin/stock/purchaseorder/lines/<int:line_id>/{page}/": (
            f"/admin/stock/purchaseorder/lines/{{w.order_line.pk}}/{page}/",
            WAREHOUSE,
            WAREHOUSE,
        )
        for page in ("receive", "amend")
    },
    "admin/stock/repair/<int:object_id>/return/": ("/admin/stock/repair/{pk}/return/", WAREHOUSE, WAREHOUSE),
    "admin/stock/componentimport/import/": ("/admin/stock/componentimport/import/", WAREHOUSE, WAREHOUSE),
    # Dock labels for anyone who views sites (a 400 here: no site given).
    "admin/stock/componentimport/dock-labels/": ("/admin/stock/componentimport/dock-labels/", STAFF, STAFF),
    # POST only: a GET is a 405 for any staff user.
    "admin/stock/componentimport/process_import/": (
        "/admin/stock/componentimport/process_import/",
        STAFF,
        WAREHOUSE,
    ),
    # Field engineers move stock too, between their van and site cupboards (stock.services.component_move).
    "admin/stock/stocklocation/move/": (
        "/admin/stock/stocklocation/move/",
        WAREHOUSE + FIELD,
        WAREHOUSE + FIELD,
    ),
}


@dataclass(frozen=True)
class AdminRights:
    """Who may view, add, change and delete a model in the admin (as its ModelAdmin and the roles say)."""

    view: str
    add: str = NOBODY
    change: str = NOBODY
    delete: str = NOBODY


VIEW_ONLY = AdminRights(view=STAFF)
ADMIN_MODELS = {
    "auth.group": AdminRights(view=NOBODY),
    "auth.user": AdminRights(view=NOBODY),
    "authtoken.tokenproxy": AdminRights(view=NOBODY),
    # Components come in by "receive"; nothing here is ever deleted (assets.admin.NoDeleteMixin).
    "assets.component": AdminRights(view=STAFF, change=WAREHOUSE),
    "assets.case": AdminRights(view=STAFF, change=WAREHOUSE),
    "assets.site": AdminRights(view=STAFF, add=WAREHOUSE, change=WAREHOUSE),
    "assets.installation": VIEW_ONLY,
    "assets.componentevent": VIEW_ONLY,
    # The part catalogue: no role holds its permissions yet (superusers keep it).
    "assets.partmodel": AdminRights(view=NOBODY),
    "stock.supplier": AdminRights(view=STAFF, add=WAREHOUSE, change=WAREHOUSE),
    "stock.purchaseorder": AdminRights(view=STAFF, add=WAREHOUSE, change=WAREHOUSE),
    "stock.stocklocation": AdminRights(view=STAFF, add=WAREHOUSE, change=WAREHOUSE),
    "stock.sparelevel": AdminRights(view=STAFF, add=WAREHOUSE, change=WAREHOUSE),
    "stock.lowstockalert": VIEW_ONLY,
    # Repairs are sent by the add page and closed by the return page; the record itself is never edited.
    "stock.repair": AdminRights(view=STAFF, add=WAREHOUSE),
    # Reservations are made by the add page and released by an action; the record itself is never edited.
    "stock.reservation": AdminRights(view=STAFF, add=WAREHOUSE),
    # The bulk import's page: components listed for everyone, imported by the warehouse.
    "stock.componentimport": VIEW_ONLY,
    # Telemetry's admin is for superusers: no role holds its permissions.
    "telemetry.ingestbatch": AdminRights(view=NOBODY),
    "telemetry.quarantinedrecord": AdminRights(view=NOBODY),
    "telemetry.discrepancy": AdminRights(view=NOBODY),
    "telemetry.packstate": AdminRights(view=NOBODY),
    "telemetry.devicestate": AdminRights(view=NOBODY),
    "telemetry.gatewaytoken": AdminRights(view=NOBODY),
    "telemetry.workerheartbeat": AdminRights(view=NOBODY),
    "telemetry.reattribution": AdminRights(view=NOBODY),
    "alarms.alarmthreshold": VIEW_ONLY,
    "alarms.alarm": VIEW_ONLY,
    # django-axes' login attempts (delete one to lift a lockout): for superusers.
    "axes.accessattempt": AdminRights(view=NOBODY),
    "axes.accesslog": AdminRights(view=NOBODY),
    "axes.accessfailurelog": AdminRights(view=NOBODY),
}


def admin_model_routes():
    """The routes every registered ModelAdmin adds, with who may GET and POST them."""
    routes = {}
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        rights = ADMIN_MODELS.get(label)
        if rights is None:
            continue  # reported as missing by the routes of the model
        base = f"admin/{model._meta.app_label}/{model._meta.model_name}/"
        sample = f"/{base}{{pk}}/"
        routes |= {
            base: (f"/{base}", rights.view, rights.view),
            f"{base}add/": (f"/{base}add/", rights.add, rights.add),
            f"{base}<path:object_id>/": (sample, STAFF, STAFF),  # redirects to the change page
            f"{base}<path:object_id>/change/": (f"{sample}change/", rights.view, rights.change),
            f"{base}<path:object_id>/history/": (f"{sample}history/", rights.view, rights.view),
            f"{base}<path:object_id>/delete/": (f"{sample}delete/", rights.delete, rights.delete),
        }
        if hasattr(model_admin, "history_form_view"):
            # Versions are for reading: reverts are disabled, and a POST is refused to everyone.
            routes[f"{base}^([^/]+)/history/([^/]+)/$"] = (
                f"{sample}history/{{history_id}}/",
                rights.view,
                NOBODY,
            )
    return routes


def table():
    return {**PAGES, **admin_model_routes()}


def test_every_url_pattern_is_in_the_table():
    routes, rows = set(url_patterns()), set(table())
    assert sorted(routes - rows) == [], "URL patterns missing from the table"
    assert sorted(rows - routes) == [], "Rows of the table that are no URL pattern"
    assert sorted(ADMIN_MODELS) == sorted(model._meta.label_lower for model in admin.site._registry)


def sample_path(route, template, world):
    model = next(
        (
            m
            for m in admin.site._registry
            if route.startswith(f"admin/{m._meta.app_label}/{m._meta.model_name}/")
        ),
        None,
    )
    values = {"w": world, "site_type": ContentType.objects.get_for_model(Site).pk}
    if model is not None:
        row = world.admin_object(model)
        values["pk"] = row.pk
        history = getattr(row, "history", None)
        values["history_id"] = history.first().history_id if history is not None else 0
    return template.format(**values)


def client_for(role, world):
    client = APIClient(raise_request_exception=False)
    if role == GATEWAY:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.gateway_token}")
    elif role != ANONYMOUS:
        client.force_login(world.users[role])
    return client


def post_body(route, world):
    """An empty form, except for ingest: a reading of the moved MPPT from when it was on the token's site."""
    if route == "api/v1/ingest/":
        at = timezone.now() - timedelta(days=1, hours=12)
        body = envelope(dataset("mppt", world.moved_mppt.configured_id, [device_record(at)]))
        return {"data": body, "content_type": "application/json"}
    return {"data": {}}


def refused(response):
    if response.status_code in (401, 403):
        return True
    location = response.headers.get("Location", "")
    to_login = location.startswith(("/accounts/login/", "/admin/login/"))
    return response.status_code == 302 and to_login and "next=" in location


@pytest.mark.parametrize("role", ROLES, ids=ROLES.values())
def test_each_role_gets_what_the_table_allows_and_no_server_error(role):
    world = build_world()
    wrong = []
    for route, (template, get_roles, post_roles) in sorted(table().items()):
        path = sample_path(route, template, world)
        for method, allowed_roles in [("GET", get_roles), ("POST", post_roles)]:
            # A fresh client each time: the logout pages end the session.
            client = client_for(role, world)
            response = client.get(path) if method == "GET" else client.post(path, **post_body(route, world))
            allowed = role in allowed_roles
            if response.status_code >= 500 or refused(response) == allowed:
                wrong.append(
                    f"{method} {path} ({route}): {response.status_code} "
                    f"{response.headers.get('Location', '')} but {'allowed' if allowed else 'denied'}"
                )
    assert wrong == [], f"{ROLES[role]}:\n" + "\n".join(wrong)
