"""Telemetry in the admin: the landing table, quarantine (with replay), discrepancies, re-attributions,
latest state, tokens.

Readings and rollups have composite primary keys, which Django 5.2's admin cannot register; they are read
through the selectors and the web pages. Large tables never show a full count.
"""

from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import ngettext

from pms_site.admin import ReadOnlyAdmin, StorableTimeLookupsMixin
from telemetry import services, tokens
from telemetry.models import (
    DeviceState,
    Discrepancy,
    GatewayToken,
    IngestBatch,
    PackState,
    QuarantinedRecord,
    Reattribution,
    WorkerHeartbeat,
)

ROTATION_OVERLAP = timedelta(hours=1)


@admin.register(IngestBatch)
class IngestBatchAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "received_at",
        "source",
        "site",
        "status",
        "attempts",
        "stored",
        "duplicate",
        "quarantined",
    ]
    list_filter = ["status", "source", "site"]
    date_hierarchy = "received_at"
    search_fields = ["=id"]
    exclude = ["payload"]
    readonly_fields = ["payload_text"]
    actions = ["retry_failed"]

    @admin.display(description="payload")
    def payload_text(self, batch):
        return format_html("<pre>{}</pre>", bytes(batch.payload).decode("utf-8", "replace"))

    @admin.action(description="Retry the selected failed batches", permissions=["retry"])
    def retry_failed(self, request, queryset):
        failed = list(queryset.filter(status=IngestBatch.Status.FAILED))
        for batch in failed:
            services.batch_retry(batch=batch)
        self.message_user(
            request,
            ngettext("Queued %d failed batch again.", "Queued %d failed batches again.", len(failed))
            % len(failed),
            messages.SUCCESS,
        )

    def has_retry_permission(self, request):
        return request.user.has_perm("telemetry.change_ingestbatch")


@admin.register(QuarantinedRecord)
class QuarantinedRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "device_id", "dataset_index", "record_index", "reason", "resolved"]
    list_filter = ["resolved", "kind"]
    search_fields = ["device_id", "reason"]
    date_hierarchy = "created_at"
    actions = ["replay"]

    @admin.action(
        description="Replay the selected records (after fixing master data)", permissions=["replay"]
    )
    def replay(self, request, queryset):
        outcome = services.quarantine_replay(records=queryset.filter(resolved=False).select_related("batch"))
        stored = ngettext(
            "%d record stored or already present", "%d records stored or already present", outcome.resolved
        )
        self.message_user(
            request,
            f"{stored % outcome.resolved}; "
            f"{outcome.still_quarantined} still quarantined (see their reasons).",
            messages.SUCCESS if not outcome.still_quarantined else messages.WARNING,
        )

    def has_replay_permission(self, request):
        return request.user.has_perm("telemetry.change_quarantinedrecord")


@admin.register(Discrepancy)
class DiscrepancyAdmin(StorableTimeLookupsMixin, admin.ModelAdmin):
    list_display = [
        "case", "kind", "observed_place", "recorded_place",
        "first_seen", "last_seen", "sample_count", "status",
    ]  # fmt: skip
    list_select_related = ["case", "observed_site", "recorded_site"]
    list_filter = ["status", "kind", "observed_site"]
    search_fields = ["case__serial"]
    readonly_fields = [
        "case", "kind", "observed_site", "observed_dock", "recorded_site", "recorded_dock",
        "first_seen", "last_seen", "sample_count", "status", "resolved_by", "resolved_at", "resolved_with",
    ]  # fmt: skip
    actions = ["resolve"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Mark the selected discrepancies resolved", permissions=["change"])
    def resolve(self, request, queryset):
        count = services.discrepancies_resolve(discrepancies=queryset, user=request.user)
        self.message_user(
            request,
            ngettext("Resolved %d discrepancy.", "Resolved %d discrepancies.", count) % count,
            messages.SUCCESS,
        )


@admin.register(Reattribution)
class ReattributionAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "component",
        "changed_at",
        "status",
        "readings_moved",
        "readings_quarantined",
        "discrepancies_opened",
        "discrepancies_resolved",
    ]
    list_filter = ["status"]
    date_hierarchy = "created_at"
    search_fields = ["component__serial"]


@admin.register(PackState)
class PackStateAdmin(ReadOnlyAdmin):
    list_display = [
        "case", "site", "dock_name", "time", "volts", "amps", "cell_volts", "open_cells", "fet_open",
    ]  # fmt: skip
    list_filter = ["site"]
    search_fields = ["case__serial"]


@admin.register(DeviceState)
class DeviceStateAdmin(ReadOnlyAdmin):
    list_display = ["device", "kind", "site", "time", "batt_volts", "batt_amps", "pv_volts", "pv_amps"]
    list_filter = ["kind", "site"]


@admin.register(GatewayToken)
class GatewayTokenAdmin(StorableTimeLookupsMixin, admin.ModelAdmin):
    list_display = [
        "name", "site", "prefix", "created_at", "created_by", "revoked_at", "expires_at", "last_used_at",
        "last_used_from",
    ]  # fmt: skip
    list_filter = ["site"]
    fields = [
        "site", "name", "prefix", "created_at", "created_by", "revoked_at", "expires_at", "last_used_at",
        "last_used_from",
    ]  # fmt: skip
    readonly_fields = [
        "prefix", "created_at", "created_by", "revoked_at", "expires_at", "last_used_at", "last_used_from",
    ]  # fmt: skip
    actions = ["revoke", "rotate"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "site", "name"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, raw_token = tokens.gateway_token_create(site=obj.site, name=obj.name, user=request.user)
        obj.pk, obj.prefix, obj.created_by = token.pk, token.prefix, token.created_by
        self._show_once(request, token, raw_token)

    @admin.action(description="Revoke (refused from the next request on)", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = list(queryset.filter(revoked_at__isnull=True))
        for token in revoked:
            tokens.gateway_token_revoke(token=token)
        self.message_user(
            request,
            ngettext("Revoked %d token.", "Revoked %d tokens.", len(revoked)) % len(revoked),
            messages.SUCCESS,
        )

    @admin.action(description="Rotate (keep the old one working for 1 hour)", permissions=["change"])
    def rotate(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            try:
                new_token, raw_token = tokens.gateway_token_rotate(
                    token=token, overlap=ROTATION_OVERLAP, user=request.user
                )
            except ValidationError as error:  # rotated twice within a second: the successor's name is taken
                self.message_user(request, f"{token}: {' '.join(error.messages)}", messages.ERROR)
                continue
            self._show_once(request, new_token, raw_token)

    def _show_once(self, request, token, raw_token):
        self.message_user(
            request,
            f"Token for {token.name}: {raw_token} - copy it now; it is stored only as a hash.",
            messages.WARNING,
        )


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["hostname", "beat_at"]
