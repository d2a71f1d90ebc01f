"""Settings page of the event bus: dead letters (deliveries that failed every attempt) and retry.

A thin caller of `core.actions.retry_dead_letters`; `settings.manage` (or superuser) is checked
before anything is read.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from guanxi.core import actions
from guanxi.core.events import delivery_error_summary
from guanxi.core.exceptions import require
from guanxi.core.models import EventDelivery, EventDeliveryStatus
from guanxi.core.permissions import Perm

PAGE_SIZE = 50


@login_required
@require_GET
def dead_letters(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    deliveries = (
        EventDelivery.objects.filter(status=EventDeliveryStatus.DEAD)
        .select_related("event", "event__content_type")
        .order_by("-updated_at", "-pk")
    )
    page = Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    for delivery in page:
        delivery.error_summary = delivery_error_summary(delivery)
    return render(request, "core/events/dead_letters.html", {"page": page, "total": page.paginator.count})


@login_required
@require_POST
def retry(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    try:
        count = actions.retry_dead_letters(request.POST.getlist("delivery_ids"), actor=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            ngettext(
                "%(count)d delivery will be retried by the worker.",
                "%(count)d deliveries will be retried by the worker.",
                count,
            )
            % {"count": count},
        )
    return redirect("events:dead_letters")
