"""Notification centre, notification preferences and the delivery log: thin callers of actions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from guanxi.core.exceptions import require
from guanxi.core.http import safe_next
from guanxi.core.permissions import Perm
from guanxi.messaging import actions
from guanxi.messaging.models import ChannelKind, Delivery, DeliveryStatus, Notification
from guanxi.messaging.tasks import DIGEST_HOUR

# htmx stops polling when it receives this status (used when the session has ended).
HTMX_STOP_POLLING = 286


def _can_see_deliveries(user) -> bool:
    return user.is_superuser or user.has_perm_code(Perm.SETTINGS_MANAGE)


# --- Notification centre ------------------------------------------------------------------------


def _center_context(request: HttpRequest, params) -> dict[str, Any]:
    unread_only = params.get("unread") == "1"
    notifications = Notification.objects.filter(recipient=request.user)
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    notifications = notifications.annotate(
        is_read=Case(When(read_at__isnull=True, then=Value(0)), default=Value(1), output_field=IntegerField())
    ).order_by("is_read", "-created_at", "-id")
    page = Paginator(notifications, settings.GUANXI_PAGE_SIZE).get_page(params.get("page"))
    return {
        "page": page,
        "unread_only": unread_only,
        "unread_notifications": actions.unread_count(request.user),
        "can_see_deliveries": _can_see_deliveries(request.user),
    }


def _list_response(request: HttpRequest):
    """After a mark-read POST: the list fragment for htmx (with the navbar badge out of band),
    otherwise back to the page the form was on."""
    if request.htmx:
        context = {**_center_context(request, request.POST), "oob_badge": True}
        return render(request, "messaging/_list.html", context)
    query = {k: request.POST[k] for k in ("unread", "page") if request.POST.get(k, "").isdigit()}
    return redirect(reverse("messaging:center") + (f"?{urlencode(query)}" if query else ""))


@login_required
@require_GET
def center(request: HttpRequest):
    context = _center_context(request, request.GET)
    if request.htmx and request.htmx.target == "notification-list":
        return render(request, "messaging/_list.html", context)
    return render(request, "messaging/center.html", context)


@login_required
@require_POST
def mark_one_read(request: HttpRequest, pk: int):
    notification = get_object_or_404(Notification, pk=pk, recipient=request.user)
    actions.mark_read(request.user, [notification.pk])
    return _list_response(request)


@login_required
@require_POST
def mark_all_read(request: HttpRequest):
    count = actions.mark_read(request.user)
    if not request.htmx and count:
        messages.success(request, _("All notifications marked as read."))
    return _list_response(request)


@login_required
@require_POST
def open_notification(request: HttpRequest, pk: int):
    """Mark a notification read and follow its link."""
    notification = get_object_or_404(Notification, pk=pk, recipient=request.user)
    actions.mark_read(request.user, [notification.pk])
    url = notification.url
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(url)
    return redirect("messaging:center")


@require_GET
def badge(request: HttpRequest):
    """The navbar badge, polled by htmx."""
    if not request.user.is_authenticated:
        return HttpResponse(status=HTMX_STOP_POLLING)
    return render(
        request, "messaging/_badge.html", {"unread_notifications": actions.unread_count(request.user)}
    )


# --- Preferences --------------------------------------------------------------------------------


class PreferencesForm(forms.Form):
    """Shapes the page's input; the rules live in `actions.update_preferences`."""

    quiet_start = forms.TimeField(
        label=gettext_lazy("Quiet hours from"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time", "class": "form-control"}, format="%H:%M"),
    )
    quiet_end = forms.TimeField(
        label=gettext_lazy("Quiet hours until"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time", "class": "form-control"}, format="%H:%M"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for channel in actions.PREFERENCE_CHANNELS:
            self.fields[f"{channel}_enabled"] = forms.BooleanField(label=gettext_lazy("Send"), required=False)
            self.fields[f"{channel}_digest"] = forms.BooleanField(
                label=gettext_lazy("As a daily digest"), required=False
            )
            for suffix in ("enabled", "digest"):
                self.fields[f"{channel}_{suffix}"].widget.attrs["class"] = "form-check-input"

    def channel_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "channel": channel,
                "label": ChannelKind(channel).label,
                "enabled": self[f"{channel}_enabled"],
                "digest": self[f"{channel}_digest"],
            }
            for channel in actions.PREFERENCE_CHANNELS
        ]

    def add_action_errors(self, exc: ValidationError) -> None:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, exc.messages)


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest):
    current = actions.preference_snapshot(request.user)
    form = PreferencesForm(request.POST or None, initial=current)
    if request.method == "POST" and form.is_valid():
        try:
            changed = actions.update_preferences(request.user, form.cleaned_data, actor=request.user)
        except ValidationError as exc:
            form.add_action_errors(exc)
        else:
            if changed:
                messages.success(request, _("Notification settings saved."))
            return redirect("messaging:preferences")
    return render(
        request,
        "messaging/preferences.html",
        {
            "form": form,
            "email": request.user.email,
            "mobile": request.user.mobile,
            "digest_hour": DIGEST_HOUR,
        },
    )


# --- Delivery log -------------------------------------------------------------------------------


@login_required
@require_GET
def deliveries(request: HttpRequest):
    require(request.user, Perm.SETTINGS_MANAGE)
    status = request.GET.get("status", "")
    status = status if status in DeliveryStatus.values else ""
    channel = request.GET.get("channel", "")
    channel = channel if channel in ChannelKind.values and channel != ChannelKind.IN_APP else ""
    rows = Delivery.objects.select_related("notification__recipient").order_by("-id")
    if status:
        rows = rows.filter(status=status)
    if channel:
        rows = rows.filter(channel=channel)
    page = Paginator(rows, settings.GUANXI_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "messaging/deliveries.html",
        {
            "page": page,
            "status": status,
            "channel": channel,
            "statuses": DeliveryStatus.choices,
            "channels": [c for c in ChannelKind.choices if c[0] != ChannelKind.IN_APP],
            "querystring": query.urlencode(),
        },
    )


@login_required
@require_POST
def retry(request: HttpRequest, pk: int):
    actions.retry_delivery(pk, actor=request.user)
    messages.success(request, _("The delivery will be sent again."))
    return redirect(safe_next(request) or "messaging:deliveries")
