"""The Django admin for warehouse staff. Every write goes through assets.services."""

from functools import partial

from csp.decorators import csp_update
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from simple_history.admin import SimpleHistoryAdmin

from assets import permissions, selectors, services
from assets.forms import (
    AssembleCaseForm,
    ComponentForm,
    ReceiveShipmentForm,
    SiteCreateForm,
    StatusChangeForm,
    add_service_errors,
)
from assets.models import Case, Component, ComponentEvent, Installation, Kind, PartModel, Position, Site
from pms_site.admin import StorableTimeLookupsMixin


class CurrentSiteFilter(admin.SimpleListFilter):
    title = "site (now)"
    parameter_name = "site"

    def lookups(self, request, model_admin):
        return [(site.pk, str(site)) for site in Site.objects.all()]

    def queryset(self, request, queryset):
        site = Site.objects.filter(pk=self.value()).first() if (self.value() or "").isdigit() else None
        if site is None:
            return queryset
        return queryset.filter(pk__in=selectors.components_on_site(site=site).values("pk"))


class NoDeleteMixin:
    """Components, sites and their history are kept for life."""

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyMixin(NoDeleteMixin):
    """Written only by the services (install, remove, swap, receive, set status)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    """History rows: shown, never written here."""

    extra = 0
    can_delete = False


class InstallationInline(ReadOnlyInline):
    model = Installation
    fk_name = "component"
    verbose_name_plural = "installation history"
    fields = [
        "position",
        "installed_at",
        "installed_by",
        "reason",
        "removed_at",
        "removed_by",
        "removal_reason",
    ]
    readonly_fields = fields
    ordering = ["-installed_at"]


class EventInline(ReadOnlyInline):
    model = ComponentEvent
    fields = ["occurred_at", "type", "from_status", "to_status", "user", "position", "reason", "note"]
    readonly_fields = fields


BORDER_TOP_0_SHA256 = "XMXSevYjgSjXgRafBFDvtjwX+yyWLrxfso9DcNZ9UXM="  # of the style attribute "border-top: 0"


class AssetAdmin(StorableTimeLookupsMixin, NoDeleteMixin, SimpleHistoryAdmin):
    # Extra pages as (route, url name suffix, view method name); the url name is <app>_<model>_<suffix>.
    extra_pages = ()

    def revert_disabled(self, request, obj=None):
        # A revert would write around the services and their rules: history is for reading.
        return True

    # simple-history's list template has one inline style attribute: the policy allows exactly that one.
    @method_decorator(csp_update({"style-src-attr": ["'unsafe-hashes'", f"'sha256-{BORDER_TOP_0_SHA256}'"]}))
    def history_view(self, request, object_id, extra_context=None):
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # simple-history saves a POSTed version even with reverts disabled, for anyone who may view it.
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_urls(self):
        extra = [
            path(
                route,
                self.admin_site.admin_view(getattr(self, view)),
                name=f"{self.opts.app_label}_{self.opts.model_name}_{name}",
            )
            for route, name, view in self.extra_pages
        ]
        return [*extra, *super().get_urls()]

    def admin_view_context(self, request, title):
        return {**self.admin_site.each_context(request), "opts": self.opts, "title": title}

    def service_form_page(self, request, *, permission, form_class, title, template, on_valid, context=None):
        """A page with one form: valid input goes to ``on_valid`` (which calls a service and returns the
        response); the service's errors go back onto the form, with everything typed kept."""
        if not request.user.has_perm(permission):
            raise PermissionDenied
        posted = request.method == "POST"
        form = form_class(request.POST if posted else None, request.FILES if posted else None)
        if posted and form.is_valid():
            try:
                return on_valid(form)
            except ValidationError as error:
                add_service_errors(form, error)
        context = {**self.admin_view_context(request, title), "form": form, **(context or {})}
        return TemplateResponse(request, template, context)


@admin.register(Component)
class ComponentAdmin(AssetAdmin):
    form = ComponentForm
    list_display = ["serial", "kind", "status", "model_number", "manufacturer", "supplier", "received_on"]
    list_filter = ["kind", "status", CurrentSiteFilter, "supplier", "manufacturer", "model_number"]
    search_fields = [
        "serial",
        "model_number",
        "manufacturer",
        "supplier",
        "purchase_order",
        "batch",
        "configured_id",
    ]
    readonly_fields = ["kind", "status", "dock_count", "created_at", "updated_at"]
    inlines = [InstallationInline, EventInline]
    actions = ["set_status"]
    list_per_page = 100
    extra_pages = [("receive/", "receive", "receive_view")]

    def has_add_permission(self, request):
        # Components come in through "Receive shipment", which records the procurement event.
        return False

    # "Receive shipment": its form, and the service it calls (stock's admin puts the shipment in a location).
    receive_form = ReceiveShipmentForm

    def receive_components(self, arguments, *, user):
        return services.components_receive(**arguments, user=user)

    def received_into(self, arguments):
        """Where the success message says the shipment went."""
        return "stock"

    def has_set_status_permission(self, request):
        return request.user.has_perm(permissions.SET_COMPONENT_STATUS)

    def save_model(self, request, obj, form, change):
        services.component_update(
            component=obj,
            user=request.user,
            reason=form.cleaned_data["change_reason"],
            **form.changed_fields(),
        )

    def receive_view(self, request):
        """First the kind (a list of links), then the form with that kind's fields."""
        kind = request.POST.get("kind") or request.GET.get("kind")
        if kind not in Kind.values:
            if not request.user.has_perm(permissions.RECEIVE_COMPONENTS):
                raise PermissionDenied
            context = {**self.admin_view_context(request, "Receive a shipment"), "kinds": Kind.choices}
            return TemplateResponse(request, "admin/assets/receive_choose_kind.html", context)

        def receive(form):
            arguments = form.receive_arguments()
            components = self.receive_components(arguments, user=request.user)
            counted = services.counted(count=len(components), kind=kind)
            into = self.received_into(arguments)
            self.message_user(request, f"Received {counted} into {into}.", messages.SUCCESS)
            url = reverse("admin:assets_component_changelist")
            return redirect(f"{url}?kind__exact={kind}&status__exact=in_stock")

        return self.service_form_page(
            request,
            permission=permissions.RECEIVE_COMPONENTS,
            form_class=partial(self.receive_form, kind=kind),
            title=f"Receive a shipment of {services.noun(kind=kind)}s",
            template="admin/assets/receive_shipment.html",
            on_valid=receive,
            context={"kind": kind},
        )

    def action_with_form(self, request, queryset, *, form_class, title, template, apply, done):
        """An action on the selected components that first asks for ``form_class`` on a page of its own
        (``template``), then calls ``apply(component, **cleaned_data)`` on each: a component refused is named
        with why, and ``done(count, cleaned_data)`` says what was done to the others."""
        form = form_class(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_view_context(request, title),
                "form": form,
                "components": queryset,
                "action": request.POST.get("action", ""),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, template, context)
        count = 0
        for component in queryset:
            try:
                apply(component, **form.cleaned_data)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                count += 1
        if count:
            self.message_user(request, done(count, form.cleaned_data), messages.SUCCESS)
        return None

    @admin.action(description="Set the status of the selected components", permissions=["set_status"])
    def set_status(self, request, queryset):
        def apply(component, **fields):
            services.component_set_status(component=component, user=request.user, **fields)

        return self.action_with_form(
            request,
            queryset,
            form_class=StatusChangeForm,
            title="Set the status of components",
            template="admin/assets/set_status.html",
            apply=apply,
            done=lambda count, fields: f"Status set on {count} component{'' if count == 1 else 's'}.",
        )


# simple-history names its manager on the concrete model's options only; its admin history pages look it up
# on the model registered, here the Case proxy.
Case._meta.simple_history_manager_attribute = Component._meta.simple_history_manager_attribute


@admin.register(Case)
class CaseAdmin(ComponentAdmin):
    """Cases, shown as a tree of what they hold."""

    list_filter = ["status", CurrentSiteFilter, "supplier", "model_number"]
    change_form_template = "admin/assets/case/change_form.html"
    change_list_template = "admin/assets/case/change_list.html"
    extra_pages = [("assemble/", "assemble", "assemble_view")]

    def view_on_site(self, obj):
        return reverse("web:case", args=[obj.serial])

    def change_view(self, request, object_id, form_url="", extra_context=None):
        case = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "tree": selectors.contents_of(component=case) if case else (),
            "location": selectors.location_of_component(component=case) if case else None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def assemble_view(self, request):
        def assemble(form):
            case = services.case_assemble(**form.cleaned_data, user=request.user)
            self.message_user(request, f"Case {case.serial} assembled.", messages.SUCCESS)
            return redirect("admin:assets_case_change", case.pk)

        return self.service_form_page(
            request,
            permission=permissions.ASSEMBLE_CASES,
            form_class=AssembleCaseForm,
            title="Assemble a case from stock",
            template="admin/assets/assemble_case.html",
            on_valid=assemble,
        )


class PositionInline(ReadOnlyInline):
    model = Position
    fk_name = "site"
    fields = ["kind", "number"]
    readonly_fields = fields


@admin.register(Site)
class SiteAdmin(AssetAdmin):
    list_display = ["name", "pms_id", "location", "time_zone"]
    search_fields = ["name", "pms_id", "location"]
    inlines = [PositionInline]

    def view_on_site(self, obj):
        return reverse("web:site", args=[obj.pk])

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = SiteCreateForm
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        site = services.site_create(**form.cleaned_data, user=request.user)
        obj.pk, obj.created_at = site.pk, site.created_at


@admin.register(Installation)
class InstallationAdmin(ReadOnlyMixin, AssetAdmin):
    list_display = ["component", "place", "installed_at", "removed_at", "installed_by", "reason"]
    list_filter = ["component_kind", "installed_at", "removed_at"]
    search_fields = ["component__serial", "reason", "removal_reason", "note"]
    list_select_related = ["component", "position", "installed_by"]

    @admin.display(description="Where")
    def place(self, installation):
        """Where it was installed, as every page names it: "PMS-01-001 C2-D11"."""
        return str(
            selectors.location_of_position(position=installation.position, at=installation.installed_at)
        )


@admin.register(ComponentEvent)
class ComponentEventAdmin(StorableTimeLookupsMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "component", "type", "from_status", "to_status", "user", "reason"]
    list_filter = ["type", "to_status", "occurred_at"]
    search_fields = ["component__serial", "reason", "note"]
    list_select_related = ["component", "user"]


@admin.register(PartModel)
class PartModelAdmin(NoDeleteMixin, SimpleHistoryAdmin):
    """The part catalogue: nominal figures per model number (a case's capacity for its cycle count)."""

    list_display = ("model_number", "kind", "manufacturer", "nominal_ah", "nominal_volts")
    list_filter = ("kind",)
    search_fields = ("model_number", "manufacturer", "description")
