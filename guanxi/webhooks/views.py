"""Settings pages of outgoing webhooks: thin callers of `guanxi.webhooks.actions`. Every page
checks `settings.manage` before reading anything."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Max, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from guanxi.core.crypto import mask
from guanxi.core.exceptions import require
from guanxi.core.permissions import Perm
from guanxi.webhooks import actions, forms
from guanxi.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint


def _endpoint_or_404(pk: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=pk).first()
    if endpoint is None:
        raise Http404
    return endpoint


@login_required
@require_GET
def endpoint_list(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    endpoints = WebhookEndpoint.objects.annotate(
        delivery_count=Count("deliveries"),
        failing=Count(
            "deliveries", filter=Q(deliveries__status__in=[DeliveryStatus.FAILING, DeliveryStatus.DEAD])
        ),
        last_attempt=Max("deliveries__last_attempt_at"),
    ).order_by("name", "pk")
    return render(request, "webhooks/endpoint_list.html", {"endpoints": endpoints})


def _secret_page(request, endpoint: WebhookEndpoint, *, rotated: bool):
    """The one page that shows a secret in full: right after it was made (never again)."""
    return render(
        request, "webhooks/secret.html", {"endpoint": endpoint, "secret": endpoint.secret, "rotated": rotated}
    )


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_create(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    form = forms.EndpointForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                endpoint = actions.create_endpoint(form.to_action_data(), actor=request.user)
            except ValidationError as exc:
                form.add_action_errors(exc)
            else:
                messages.success(request, _("Webhook endpoint %(name)s created.") % {"name": endpoint.name})
                return _secret_page(request, endpoint, rotated=False)
        return render(request, "webhooks/endpoint_form.html", {"form": form, "endpoint": None}, status=422)
    return render(request, "webhooks/endpoint_form.html", {"form": form, "endpoint": None})


@login_required
@require_http_methods(["GET", "POST"])
def endpoint_edit(request, pk: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    endpoint = _endpoint_or_404(pk)
    initial = {
        "name": endpoint.name,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "max_consecutive_failures": endpoint.max_consecutive_failures,
    }
    form = forms.EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            try:
                actions.update_endpoint(endpoint.pk, form.to_action_data(), actor=request.user)
            except ValidationError as exc:
                form.add_action_errors(exc)
            else:
                messages.success(request, _("Webhook endpoint saved."))
                return redirect("webhooks:endpoint", pk=endpoint.pk)
        return render(
            request, "webhooks/endpoint_form.html", {"form": form, "endpoint": endpoint}, status=422
        )
    return render(request, "webhooks/endpoint_form.html", {"form": form, "endpoint": endpoint})


@login_required
@require_GET
def endpoint_detail(request, pk: int):
    """The endpoint, its masked secret and its delivery log (filter by status)."""
    require(request.user, Perm.SETTINGS_MANAGE)
    endpoint = _endpoint_or_404(pk)
    status = request.GET.get("status", "")
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).defer("payload").order_by("-pk")
    if status in DeliveryStatus.values:
        deliveries = deliveries.filter(status=status)
    else:
        status = ""
    page = Paginator(deliveries, settings.GUANXI_PAGE_SIZE).get_page(request.GET.get("page"))
    codes: dict[int, list] = {}
    for delivery_id, code in (
        WebhookAttempt.objects.filter(delivery_id__in=[d.pk for d in page])
        .order_by("delivery_id", "number")
        .values_list("delivery_id", "status_code")
    ):
        codes.setdefault(delivery_id, []).append(code if code is not None else "—")
    for delivery in page:
        delivery.codes = codes.get(delivery.pk, [])
    return render(
        request,
        "webhooks/endpoint_detail.html",
        {
            "endpoint": endpoint,
            "masked_secret": mask(endpoint.secret),
            "page": page,
            "status": status,
            "statuses": DeliveryStatus.choices,
        },
    )


def _run(request, pk: int, call, success: str):
    require(request.user, Perm.SETTINGS_MANAGE)
    try:
        call(pk, actor=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, success)
    return redirect("webhooks:endpoint", pk=pk)


@login_required
@require_POST
def endpoint_enable(request, pk: int):
    return _run(request, pk, actions.enable_endpoint, _("Endpoint enabled: waiting deliveries are sent now."))


@login_required
@require_POST
def endpoint_disable(request, pk: int):
    return _run(request, pk, actions.disable_endpoint, _("Endpoint disabled: nothing is sent to it."))


@login_required
@require_POST
def endpoint_rotate(request, pk: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    endpoint = actions.rotate_secret(pk, actor=request.user)
    return _secret_page(request, endpoint, rotated=True)


@login_required
@require_POST
def endpoint_delete(request, pk: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    endpoint = _endpoint_or_404(pk)
    actions.delete_endpoint(endpoint.pk, actor=request.user)
    messages.success(request, _("Webhook endpoint %(name)s deleted.") % {"name": endpoint.name})
    return redirect("webhooks:endpoints")


@login_required
@require_GET
def delivery_detail(request, pk: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=pk).first()
    if delivery is None:
        raise Http404
    return render(
        request,
        "webhooks/delivery_detail.html",
        {"delivery": delivery, "attempts": delivery.attempt_log.order_by("number")},
    )


@login_required
@require_POST
def delivery_redeliver(request, pk: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    try:
        delivery = actions.redeliver(pk, actor=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        delivery = WebhookDelivery.objects.filter(pk=pk).first()
        if delivery is None:
            raise Http404 from None
    else:
        messages.success(
            request, _("Delivery %(id)s queued again (same webhook-id).") % {"id": delivery.message_id}
        )
    if request.POST.get("next") == "delivery":
        return redirect("webhooks:delivery", pk=pk)
    return redirect("webhooks:endpoint", pk=delivery.endpoint_id)
