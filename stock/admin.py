"""Procurement in the admin, the warehouse's home: suppliers and purchase orders. Writes go through
stock.services; the order's page lists its lines (ordered, received, outstanding) and receipts."""

from functools import partial

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from import_export.admin import ImportMixin

from assets import admin as asset_admin
from assets.admin import AssetAdmin, NoDeleteMixin, ReadOnlyMixin
from assets.models import Component, Site
from assets.permissions import RECEIVE_COMPONENTS
from assets.services import counted, noun
from stock import permissions, selectors, services
from stock.forms import (
    AmendLineForm,
    CancelForm,
    LineForm,
    MoveForm,
    PlaceForm,
    PurchaseOrderForm,
    ReceiptForm,
    RepairReturnForm,
    RepairSendForm,
    ReservationForm,
    ReserveForm,
    ShipmentForm,
    StockLocationForm,
    SupplierForm,
)
from stock.imports import ComponentResource
from stock.labels import SHEETS, component_labels, dock_labels, labels_svg
from stock.models import (
    ComponentImport,
    LowStockAlert,
    PurchaseOrder,
    PurchaseOrderLine,
    Repair,
    Reservation,
    SpareLevel,
    StockLocation,
    Supplier,
)

FORM_PAGE = "admin/stock/form_page.html"


admin.site.unregister(Component)


@admin.register(Component)
class ComponentAdmin(asset_admin.ComponentAdmin):
    """The components' admin, whose "Receive shipment" puts the shipment into a stock location, and whose
    "reserve" action sets the selected components in stock aside for a job."""

    receive_form = ShipmentForm
    actions = [*asset_admin.ComponentAdmin.actions, "reserve"]

    def receive_components(self, arguments, *, user):
        return services.components_receive_into(**arguments, user=user)

    def received_into(self, arguments):
        return str(arguments["location"])

    def has_reserve_permission(self, request):
        return request.user.has_perm(permissions.RESERVE)

    @admin.action(description="Reserve the selected components for a job", permissions=["reserve"])
    def reserve(self, request, queryset):
        """Each selected component in stock and not yet reserved is reserved; the others are named, with
        why not."""

        def apply(component, **fields):
            services.component_reserve(component=component, user=request.user, **fields)

        def done(count, fields):
            return f"Reserved {count} component{'' if count == 1 else 's'} for {fields['reason'].strip()}."

        return self.action_with_form(
            request,
            queryset,
            form_class=ReserveForm,
            title="Reserve components for a job",
            template="admin/stock/reserve.html",
            apply=apply,
            done=done,
        )


@admin.register(Supplier)
class SupplierAdmin(AssetAdmin):
    form = SupplierForm
    list_display = ["name", "contact"]
    search_fields = ["name", "contact", "notes"]

    def save_model(self, request, obj, form, change):
        services.supplier_save(supplier=obj, user=request.user)


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(AssetAdmin):
    form = PurchaseOrderForm
    list_display = ["reference", "supplier", "status", "ordered_on", "expected_on"]
    list_filter = ["status", "supplier"]
    search_fields = ["reference", "supplier__name", "notes"]
    list_select_related = ["supplier"]
    readonly_fields = ["status"]
    change_form_template = "admin/stock/purchaseorder/change_form.html"
    extra_pages = [
        ("<int:object_id>/add-line/", "add_line", "add_line_view"),
        ("<int:object_id>/place/", "place", "place_view"),
        ("<int:object_id>/cancel/", "cancel", "cancel_view"),
        ("lines/<int:line_id>/receive/", "receive", "receive_view"),
        ("lines/<int:line_id>/amend/", "amend", "amend_view"),
    ]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != PurchaseOrder.Status.DRAFT:
            return ["status", "supplier", "reference"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            order = services.purchase_order_create(
                **{name: form.cleaned_data[name] for name in PurchaseOrderForm.Meta.fields}, user=request.user
            )
            obj.pk, obj.created_at = order.pk, order.created_at
            return
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name != "change_reason"}
        services.purchase_order_update(
            order=obj, user=request.user, reason=form.cleaned_data["change_reason"], **fields
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        if order is not None:
            extra_context = {
                **(extra_context or {}),
                "lines": selectors.order_lines(order=order),
                "receipts": selectors.order_receipts(order=order),
                "can_edit": request.user.has_perm(permissions.EDIT_ORDERS),
                "receivable": request.user.has_perm(permissions.RECEIVE)
                and order.status in services.OPEN_FOR_RECEIPT,
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def _order_page(
        self, request, order, *, permission, form_class, title, submit_label, on_valid, line=None
    ):
        return self.service_form_page(
            request,
            permission=permission,
            form_class=form_class,
            title=title,
            template=FORM_PAGE,
            on_valid=on_valid,
            context={"order": order, "line": line, "submit_label": submit_label},
        )

    def _done(self, request, order, message):
        self.message_user(request, message, messages.SUCCESS)
        return redirect("admin:stock_purchaseorder_change", order.pk)

    def add_line_view(self, request, object_id):
        order = get_object_or_404(PurchaseOrder, pk=object_id)

        def add(form):
            line = services.purchase_order_line_add(order=order, **form.cleaned_data, user=request.user)
            return self._done(request, order, f"Line {line.number} added.")

        return self._order_page(
            request,
            order,
            permission=permissions.EDIT_ORDERS,
            form_class=LineForm,
            title=f"Add a line to {order.reference}",
            submit_label="Add line",
            on_valid=add,
        )

    def place_view(self, request, object_id):
        order = get_object_or_404(PurchaseOrder, pk=object_id)

        def place(form):
            services.purchase_order_place(order=order, user=request.user)
            return self._done(request, order, f"{order.reference} placed.")

        return self._order_page(
            request,
            order,
            permission=permissions.EDIT_ORDERS,
            form_class=PlaceForm,
            title=f"Place {order.reference}",
            submit_label="Place order",
            on_valid=place,
        )

    def cancel_view(self, request, object_id):
        order = get_object_or_404(PurchaseOrder, pk=object_id)

        def cancel(form):
            services.purchase_order_cancel(order=order, user=request.user, **form.cleaned_data)
            return self._done(request, order, f"{order.reference} cancelled.")

        return self._order_page(
            request,
            order,
            permission=permissions.EDIT_ORDERS,
            form_class=CancelForm,
            title=f"Cancel {order.reference}",
            submit_label="Cancel order",
            on_valid=cancel,
        )

    def _line(self, request, line_id):
        if not request.user.has_perm("stock.view_purchaseorder"):
            raise PermissionDenied
        return get_object_or_404(PurchaseOrderLine.objects.select_related("order__supplier"), pk=line_id)

    def receive_view(self, request, line_id):
        line = self._line(request, line_id)

        def receive(form):
            receipt = services.purchase_order_receive(
                line=line, **form.receive_arguments(), user=request.user
            )
            count = receipt.items.count()
            return self._done(
                request, line.order, f"Received {counted(count=count, kind=line.kind)} on line {line.number}."
            )

        return self._order_page(
            request,
            line.order,
            permission=permissions.RECEIVE,
            form_class=partial(ReceiptForm, kind=line.kind),
            title=f"Receive {noun(kind=line.kind)}s on {line.order.reference} line {line.number}",
            submit_label="Receive",
            on_valid=receive,
            line=selectors.order_line(line=line),
        )

    def amend_view(self, request, line_id):
        line = self._line(request, line_id)

        def amend(form):
            services.purchase_order_line_amend(line=line, **form.cleaned_data, user=request.user)
            return self._done(
                request, line.order, f"Line {line.number} amended to {form.cleaned_data['quantity']}."
            )

        return self._order_page(
            request,
            line.order,
            permission=permissions.EDIT_ORDERS,
            form_class=AmendLineForm,
            title=f"Amend line {line.number} of {line.order.reference}",
            submit_label="Amend",
            on_valid=amend,
            line=selectors.order_line(line=line),
        )


@admin.register(StockLocation)
class StockLocationAdmin(AssetAdmin):
    form = StockLocationForm
    list_display = ["__str__", "kind", "engineer"]
    list_filter = ["kind"]
    search_fields = ["name", "site__name", "warehouse__name"]
    list_select_related = ["warehouse", "site", "engineer"]
    change_form_template = "admin/stock/stocklocation/change_form.html"
    change_list_template = "admin/stock/stocklocation/change_list.html"
    extra_pages = [("move/", "move", "move_view")]

    def save_model(self, request, obj, form, change):
        services.location_save(location=obj, user=request.user)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        location = self.get_object(request, object_id)
        if location is not None:
            extra_context = {**(extra_context or {}), "contents": selectors.contents_of(location=location)}
        return super().change_view(request, object_id, form_url, extra_context)

    def move_view(self, request):
        def move(form):
            moves = services.components_move(
                components=form.cleaned_data["components"],
                to_location=form.cleaned_data["to_location"],
                note=form.cleaned_data["note"],
                user=request.user,
            )
            kind = form.cleaned_data["kind"]
            message = f"Moved {counted(count=len(moves), kind=kind)} to {form.cleaned_data['to_location']}."
            self.message_user(request, message, messages.SUCCESS)
            return redirect("admin:stock_stocklocation_change", form.cleaned_data["to_location"].pk)

        return self.service_form_page(
            request,
            permission=permissions.MOVE,
            form_class=partial(MoveForm, user=request.user),
            title="Move components",
            template="admin/assets/form_page.html",
            on_valid=move,
        )


@admin.register(SpareLevel)
class SpareLevelAdmin(AssetAdmin):
    """The spares view: each minimum against what is in stock, reserved of that, available and in repair."""

    fields = ["kind", "model_number", "location", "minimum"]
    list_display = ["__str__", "minimum", "in_stock", "reserved", "available", "in_repair", "short"]
    list_filter = ["kind", "location"]
    list_select_related = ["location__warehouse", "location__site"]

    def changelist_view(self, request, extra_context=None):
        self._counts = {counts.level.pk: counts for counts in selectors.spare_level_counts()}
        return super().changelist_view(request, extra_context)

    @admin.display(description="in stock")
    def in_stock(self, obj):
        return self._counts[obj.pk].in_stock

    @admin.display(description="reserved")
    def reserved(self, obj):
        return self._counts[obj.pk].reserved

    @admin.display(description="available")
    def available(self, obj):
        return self._counts[obj.pk].available

    @admin.display(description="in repair")
    def in_repair(self, obj):
        return self._counts[obj.pk].in_repair

    @admin.display(description="short by")
    def short(self, obj):
        return self._counts[obj.pk].short or ""

    def save_model(self, request, obj, form, change):
        services.spare_level_save(level=obj, user=request.user)


@admin.register(LowStockAlert)
class LowStockAlertAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["level", "in_stock", "reserved", "raised_at", "cleared_at"]
    list_filter = ["cleared_at"]
    list_select_related = ["level__location__warehouse", "level__location__site"]


@admin.register(Reservation)
class ReservationAdmin(NoDeleteMixin, admin.ModelAdmin):
    """Set a component in stock aside for a job (add); release it (the action) when the job no longer needs
    it. Installing the component releases it too."""

    form = ReservationForm
    list_display = ["component", "reason", "reserved_by", "reserved_at", "released_at", "released_by"]
    list_filter = [("released_at", admin.EmptyFieldListFilter)]
    search_fields = ["component__serial", "reason"]
    list_select_related = ["component", "reserved_by", "released_by"]
    raw_id_fields = ["component"]
    actions = ["release"]

    def has_change_permission(self, request, obj=None):
        # Written by the services: reserved by the add page, released by the action.
        return False

    def has_release_permission(self, request):
        return request.user.has_perm(permissions.RELEASE)

    def save_model(self, request, obj, form, change):
        reservation = services.component_reserve(**form.cleaned_data, user=request.user)
        obj.pk = reservation.pk

    @admin.action(description="Release the selected reservations", permissions=["release"])
    def release(self, request, queryset):
        released = sum(
            services.reservations_release(component=r.component, user=request.user)
            for r in queryset.filter(released_at=None)
        )
        self.message_user(request, f"Released {released} reservation{'' if released == 1 else 's'}.")


@admin.register(Repair)
class RepairAdmin(AssetAdmin):
    """Send a faulty component for repair (add), then record how it came back (the return page)."""

    form = RepairSendForm
    list_display = [
        "component",
        "supplier",
        "rma_number",
        "sent_on",
        "under_warranty",
        "returned_on",
        "outcome",
    ]
    list_filter = ["outcome", "under_warranty", "supplier"]
    search_fields = ["component__serial", "rma_number", "replacement__serial"]
    list_select_related = ["component", "supplier"]
    readonly_fields = ["component", "supplier", "rma_number", "sent_on", "under_warranty", "returned_on",
                       "outcome", "replacement", "note"]  # fmt: skip
    change_form_template = "admin/stock/repair/change_form.html"
    extra_pages = [("<int:object_id>/return/", "return", "return_view")]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_change_permission(self, request, obj=None):
        # The record is written by the services; the return has its own page.
        return False

    def save_model(self, request, obj, form, change):
        repair = services.repair_send(
            **{name: form.cleaned_data[name] for name in RepairSendForm.Meta.fields}, user=request.user
        )
        obj.pk = repair.pk
        self.message_user(
            request,
            f"{repair.component} sent to {repair.supplier}. "
            f"{services.warranty_text(component=repair.component, on=repair.sent_on)}.",
            messages.INFO,
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        repair = self.get_object(request, object_id)
        if repair is not None:
            extra_context = {
                **(extra_context or {}),
                "warranty": services.warranty_text(component=repair.component, on=repair.sent_on),
                "can_return": repair.returned_on is None and request.user.has_perm(permissions.RECORD_RETURN),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def return_view(self, request, object_id):
        repair = get_object_or_404(Repair.objects.select_related("component", "supplier"), pk=object_id)

        def record(form):
            closed = services.repair_return(repair=repair, **form.cleaned_data, user=request.user)
            message = f"{closed.component} back from repair: {closed.get_outcome_display().lower()}"
            if closed.replacement:
                message += f" by {closed.replacement.serial}"
            self.message_user(request, f"{message}; {closed.days_away} days away.", messages.SUCCESS)
            return redirect("admin:stock_repair_change", closed.pk)

        return self.service_form_page(
            request,
            permission=permissions.RECORD_RETURN,
            form_class=RepairReturnForm,
            title=f"Return of {repair.component} from {repair.supplier}",
            template="admin/assets/form_page.html",
            on_valid=record,
        )


@admin.register(ComponentImport)
class ComponentImportAdmin(ImportMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Existing components from CSV or XLSX: a preview with row-numbered errors, then all rows or none."""

    resource_classes = [ComponentResource]
    list_display = ["serial", "kind", "status", "model_number", "supplier", "received_on"]
    list_filter = ["kind", "status"]
    search_fields = ["serial"]

    actions = ["labels_a4", "labels_printer"]

    def get_urls(self):
        view = self.admin_site.admin_view(self.dock_labels_view)
        return [path("dock-labels/", view, name="stock_componentimport_dock_labels"), *super().get_urls()]

    def _labels(self, request, labels, size, name):
        svg = labels_svg(labels=labels, sheet=SHEETS[size])
        response = HttpResponse(svg, content_type="image/svg+xml")
        response["Content-Disposition"] = f'attachment; filename="{name}-{size}.svg"'
        return response

    def _component_labels(self, request, queryset, size):
        labels = component_labels(
            components=queryset.order_by("kind", "serial"), absolute_url=request.build_absolute_uri
        )
        return self._labels(request, labels, size, "labels")

    @admin.action(description="QR labels of the selected components, A4 sheets (SVG)")
    def labels_a4(self, request, queryset):
        return self._component_labels(request, queryset, "a4")

    @admin.action(description="QR labels of the selected components, label printer 62 x 29 mm (SVG)")
    def labels_printer(self, request, queryset):
        return self._component_labels(request, queryset, "label")

    def dock_labels_view(self, request):
        """?site=<id>&size=a4|label: a QR label for every dock of the site."""
        if not request.user.has_perm("assets.view_site"):
            raise PermissionDenied
        site = (
            Site.objects.filter(pk=request.GET.get("site", "")).first()
            if request.GET.get("site", "").isdigit()
            else None
        )
        size = request.GET.get("size", "a4")
        if site is None or size not in SHEETS:
            return HttpResponseBadRequest(
                "Give ?site=<site id>&size=a4 or size=label.", content_type="text/plain"
            )
        labels = dock_labels(site=site, absolute_url=request.build_absolute_uri)
        return self._labels(request, labels, size, f"docks-{site.pms_id}")

    def has_import_permission(self, request):
        return request.user.has_perm(RECEIVE_COMPONENTS)

    def process_result(self, result, request):
        failures = ComponentResource.failures(result)
        if not failures:
            return super().process_result(result, request)
        self.message_user(request, "Nothing was imported. " + " ".join(failures), messages.ERROR)
        return redirect("admin:stock_componentimport_changelist")
