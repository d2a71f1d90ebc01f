"""Inbound webhooks: the receiving endpoint (thin: the logic is in `inbound.py`) and the sources page."""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import Paginator
from django.db.models import Count, Max, Q
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from guanxi.core.converters import as_int
from guanxi.core.exceptions import require
from guanxi.core.permissions import Perm
from guanxi.customers import inbound
from guanxi.customers.models import Customer, InboundDelivery, InboundSource


def _json(status: int, body: dict, **headers: str) -> JsonResponse:
    # Sorted keys: a replay (read back from a jsonb column, which reorders keys) is byte-identical.
    return JsonResponse(
        body,
        status=status,
        headers=headers or None,
        json_dumps_params={"ensure_ascii": False, "sort_keys": True},
    )


@csrf_exempt
def receive(request: HttpRequest, slug: str) -> JsonResponse:
    """`POST /inbound/<slug>/`: one webhook call from an inbound source."""
    if request.method != "POST":
        return _json(HTTPStatus.METHOD_NOT_ALLOWED, {"detail": _("Use POST.")}, Allow="POST")
    source = inbound.active_source(slug)
    if source is None:
        return _json(HTTPStatus.NOT_FOUND, {"detail": _("Not found.")})
    too_large = {"detail": _("The body is larger than %(max)d KB.") % {"max": inbound.MAX_BODY_BYTES // 1024}}
    declared = as_int(request.META.get("CONTENT_LENGTH"), minimum=0) or 0
    if declared > inbound.MAX_BODY_BYTES:  # refused before reading it
        return _json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, too_large)
    try:
        body = request.body
    except RequestDataTooBig:
        return _json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, too_large)
    result = inbound.handle_delivery(source, request.headers, body)
    headers = {inbound.REPLAYED_HEADER: "true"} if result.replayed else {}
    return _json(result.status, result.body, **headers)


@login_required
def sources(request: HttpRequest):
    """Configured sources and their recent deliveries (for settings managers)."""
    require(request.user, Perm.SETTINGS_MANAGE)
    since = timezone.now() - dt.timedelta(hours=24)
    source_list = list(
        InboundSource.objects.annotate(
            deliveries_24h=Count("deliveries", filter=Q(deliveries__received_at__gte=since)),
            failures_24h=Count(
                "deliveries", filter=Q(deliveries__received_at__gte=since, deliveries__status_code__gte=400)
            ),
            last_received=Max("deliveries__received_at"),
        ).order_by("slug")
    )
    for source in source_list:
        source.endpoint = request.build_absolute_uri(reverse("inbound:receive", args=[source.slug]))
        source.admin_url = (
            reverse("admin:customers_inboundsource_change", args=[source.pk]) if request.user.is_staff else ""
        )
    selected = request.GET.get("source", "")
    failed_only = request.GET.get("failed") == "1"
    deliveries = InboundDelivery.objects.select_related("source").defer("payload").order_by("-id")
    if selected:
        deliveries = deliveries.filter(source__slug=selected)
    if failed_only:
        deliveries = deliveries.filter(status_code__gte=400)
    page = Paginator(deliveries, settings.GUANXI_PAGE_SIZE).get_page(request.GET.get("page"))
    customer_ids = {d.customer_id for d in page.object_list if d.customer_id}
    visible = dict(
        Customer.objects.visible_to(request.user).filter(pk__in=customer_ids).values_list("pk", "name")
    )
    rows = []
    for delivery in page.object_list:
        response = delivery.response if isinstance(delivery.response, dict) else {}
        detail = response.get("detail")
        if isinstance(detail, list):
            detail = "; ".join(
                f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg', '')}"
                for item in detail
                if isinstance(item, dict)
            )
        order = response.get("order") if isinstance(response.get("order"), dict) else {}
        rows.append(
            {
                "delivery": delivery,
                "ok": delivery.status_code < 400,
                "outcome": response.get("outcome", ""),
                "order_number": order.get("number", ""),
                "detail": detail or "",
                "customer_name": visible.get(delivery.customer_id),
            }
        )
    return render(
        request,
        "customers/inbound_sources.html",
        {
            "sources": source_list,
            "rows": rows,
            "page": page,
            "selected": selected,
            "failed_only": failed_only,
            "tolerance_minutes": inbound.TIMESTAMP_TOLERANCE_SECONDS // 60,
            "legacy_until": inbound.LEGACY_ACCEPTED_UNTIL.isoformat(),
        },
    )
