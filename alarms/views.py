"""The alarm list and the acknowledge action: reads from alarms.selectors, writes by alarms.services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from alarms import selectors, services
from alarms.filtersets import AlarmFilterSet
from alarms.models import Alarm
from alarms.permissions import ACKNOWLEDGE_ALARMS, VIEW_ALARMS
from stock.permissions import VIEW_LOW_STOCK
from stock.selectors import open_low_stock_alerts

PAGE_SIZE = 50


@login_required
@permission_required(VIEW_ALARMS, raise_exception=True)
@require_GET
def alarm_list(request):
    data = request.GET.copy()
    data.setdefault("state", Alarm.State.ACTIVE)
    filterset = AlarmFilterSet(data, queryset=selectors.raised_alarms())
    filterset.form.label_suffix = ""
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    low_stock = open_low_stock_alerts() if request.user.has_perm(VIEW_LOW_STOCK) else []
    return render(
        request, "alarms/alarm_list.html", {"filter": filterset, "page": page, "low_stock": low_stock}
    )


@permission_required(ACKNOWLEDGE_ALARMS, raise_exception=True)
@require_POST
def alarm_acknowledge(request, pk):
    """Acknowledge one alarm, then go back to the page the button was on."""
    alarm = get_object_or_404(Alarm, pk=pk)
    try:
        services.alarm_acknowledge(alarm=alarm, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Acknowledged: {alarm.message}")
    return redirect(_next_page(request))


def _next_page(request):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("alarms:list")
