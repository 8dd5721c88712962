from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from alarms.models import Alarm, AlarmThreshold
from alarms.permissions import ACKNOWLEDGE_ALARMS
from alarms.services import alarm_acknowledge
from pms_site.admin import ReadOnlyAdmin, StorableTimeLookupsMixin


@admin.register(AlarmThreshold)
class AlarmThresholdAdmin(StorableTimeLookupsMixin, admin.ModelAdmin):
    list_display = [
        "kind",
        "site",
        "enabled",
        "severity",
        "raise_value",
        "clear_value",
        "raise_after_seconds",
        "clear_after_seconds",
    ]
    list_filter = ["kind", "enabled", "severity", ("site", admin.EmptyFieldListFilter)]
    list_select_related = ["site"]

    def has_delete_permission(self, request, obj=None):
        """A global threshold can be disabled but not deleted; a site's override can be deleted."""
        if obj is not None and obj.site_id is None:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Alarm)
class AlarmAdmin(ReadOnlyAdmin):
    """Alarms are written by the evaluation only; here they are looked at and acknowledged (kept for good)."""

    list_display = [
        "kind",
        "site",
        "case",
        "severity",
        "state",
        "raised_at",
        "cleared_at",
        "peak_value",
        "acknowledged_by",
        "acknowledged_at",
    ]
    list_filter = ["state", "severity", "kind", ("acknowledged_at", admin.EmptyFieldListFilter)]
    list_select_related = ["site", "case", "acknowledged_by"]
    search_fields = ["site__pms_id", "site__name", "case__serial", "message"]
    date_hierarchy = "raised_at"
    actions = ["acknowledge"]

    def has_acknowledge_permission(self, request):
        return request.user.has_perm(ACKNOWLEDGE_ALARMS)

    @admin.action(description="Acknowledge the selected alarms", permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        acknowledged = 0
        for alarm in queryset:
            try:
                alarm_acknowledge(alarm=alarm, user=request.user)
            except ValidationError as error:
                self.message_user(request, f"{alarm}: {' '.join(error.messages)}", messages.WARNING)
            else:
                acknowledged += 1
        if acknowledged:
            self.message_user(request, f"Acknowledged {acknowledged} alarm(s).", messages.SUCCESS)
