"""Outgoing webhooks API (`/api/webhooks/...`, `settings.manage`): thin callers of the actions.

The signing secret is in the answers of create and rotate-secret only; every other answer shows
its last characters.
"""

from __future__ import annotations

import datetime as dt

from ninja import Field, Query, Router, Schema, Status

from guanxi.core.crypto import mask
from guanxi.core.exceptions import NotFound, require
from guanxi.core.permissions import Perm
from guanxi.webhooks import actions
from guanxi.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

router = Router(tags=["webhooks"])


class EndpointIn(Schema):
    name: str = Field(..., description="At most 100 characters.")
    url: str = Field(..., description="http:// or https:// only.")
    description: str = ""
    event_types: list[str] = Field(
        [], description="Declared event names (`GET /api/webhooks/event-types`); empty: automation only."
    )
    max_consecutive_failures: int = Field(10, description="Failed attempts in a row before it is disabled.")
    is_enabled: bool = True


class EndpointPatch(Schema):
    name: str | None = None
    url: str | None = None
    description: str | None = None
    event_types: list[str] | None = None
    max_consecutive_failures: int | None = None
    is_enabled: bool | None = Field(None, description="true enables (failure count reset), false disables.")


class EndpointOut(Schema):
    id: int
    name: str
    url: str
    description: str
    event_types: list[str]
    is_enabled: bool
    secret_hint: str = Field(..., description="The secret's last characters (the secret is shown once).")
    max_consecutive_failures: int
    consecutive_failures: int
    disabled_at: dt.datetime | None
    disabled_reason: str
    created_at: dt.datetime
    updated_at: dt.datetime


class EndpointWithSecret(EndpointOut):
    secret: str = Field(..., description="whsec_... Shown only in this answer: store it now.")


class AttemptOut(Schema):
    number: int
    started_at: dt.datetime
    duration_ms: int
    status_code: int | None
    response_excerpt: str
    error: str
    succeeded: bool
    next_attempt_at: dt.datetime | None


class DeliveryOut(Schema):
    id: int
    endpoint_id: int
    event_id: int | None
    event_type: str
    origin: str
    message_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    response_excerpt: str
    last_error: str
    last_duration_ms: int | None
    created_at: dt.datetime
    succeeded_at: dt.datetime | None
    attempt_log: list[AttemptOut]


class DeliveryDetail(DeliveryOut):
    payload: dict


class DeliveryPage(Schema):
    count: int
    page: int
    page_size: int
    items: list[DeliveryOut]


class DeliveryParams(Schema):
    status: DeliveryStatus | None = Field(None, description="Only deliveries with this status.")
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(25, ge=1, le=200)


def _endpoint_out(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict:
    out = {
        "id": endpoint.pk,
        "name": endpoint.name,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types or []),
        "is_enabled": endpoint.is_enabled,
        "secret_hint": mask(endpoint.secret),
        "max_consecutive_failures": endpoint.max_consecutive_failures,
        "consecutive_failures": endpoint.consecutive_failures,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }
    if with_secret:
        out["secret"] = endpoint.secret
    return out


def _attempts_by_delivery(ids: list[int]) -> dict[int, list[WebhookAttempt]]:
    found: dict[int, list[WebhookAttempt]] = {}
    for attempt in WebhookAttempt.objects.filter(delivery_id__in=ids).order_by("delivery_id", "number"):
        found.setdefault(attempt.delivery_id, []).append(attempt)
    return found


def _delivery_out(
    delivery: WebhookDelivery, attempts: list[WebhookAttempt], *, with_body: bool = False
) -> dict:
    fields = DeliveryOut.model_fields.keys() - {"attempt_log"}
    out = {name: getattr(delivery, name) for name in fields}
    out["attempt_log"] = [{name: getattr(a, name) for name in AttemptOut.model_fields} for a in attempts]
    if with_body:
        out["payload"] = delivery.payload
    return out


def _endpoint_or_404(endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound
    return endpoint


@router.get("/webhooks/event-types", response=list[str], summary="Event types an endpoint may subscribe to")
def event_types(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    return actions.subscribable_events()


@router.get("/webhooks/endpoints", response=list[EndpointOut], summary="List webhook endpoints")
def list_endpoints(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    return [_endpoint_out(e) for e in WebhookEndpoint.objects.order_by("name", "pk")]


@router.post(
    "/webhooks/endpoints",
    response={201: EndpointWithSecret},
    summary="Create a webhook endpoint (the answer holds its secret, shown only here)",
)
def create_endpoint(request, payload: EndpointIn):
    endpoint = actions.create_endpoint(payload.model_dump(), actor=request.user)
    return Status(201, _endpoint_out(endpoint, with_secret=True))


@router.get("/webhooks/endpoints/{int:endpoint_id}", response=EndpointOut, summary="One webhook endpoint")
def get_endpoint(request, endpoint_id: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    return _endpoint_out(_endpoint_or_404(endpoint_id))


@router.patch(
    "/webhooks/endpoints/{int:endpoint_id}", response=EndpointOut, summary="Change a webhook endpoint"
)
def update_endpoint(request, endpoint_id: int, payload: EndpointPatch):
    endpoint = actions.update_endpoint(
        endpoint_id, payload.model_dump(exclude_unset=True), actor=request.user
    )
    return _endpoint_out(endpoint)


@router.delete(
    "/webhooks/endpoints/{int:endpoint_id}",
    response={204: None},
    summary="Delete a webhook endpoint and its log",
)
def delete_endpoint(request, endpoint_id: int):
    actions.delete_endpoint(endpoint_id, actor=request.user)
    return Status(204, None)


@router.post(
    "/webhooks/endpoints/{int:endpoint_id}/enable", response=EndpointOut, summary="Enable an endpoint"
)
def enable_endpoint(request, endpoint_id: int):
    return _endpoint_out(actions.enable_endpoint(endpoint_id, actor=request.user))


@router.post(
    "/webhooks/endpoints/{int:endpoint_id}/disable", response=EndpointOut, summary="Disable an endpoint"
)
def disable_endpoint(request, endpoint_id: int):
    return _endpoint_out(actions.disable_endpoint(endpoint_id, actor=request.user))


@router.post(
    "/webhooks/endpoints/{int:endpoint_id}/rotate-secret",
    response=EndpointWithSecret,
    summary="Give an endpoint a new signing secret (shown only in this answer)",
)
def rotate_secret(request, endpoint_id: int):
    return _endpoint_out(actions.rotate_secret(endpoint_id, actor=request.user), with_secret=True)


@router.get(
    "/webhooks/endpoints/{int:endpoint_id}/deliveries",
    response=DeliveryPage,
    summary="The delivery log of an endpoint, newest first",
)
def list_deliveries(request, endpoint_id: int, params: Query[DeliveryParams]):
    require(request.user, Perm.SETTINGS_MANAGE)
    endpoint = _endpoint_or_404(endpoint_id)
    rows = WebhookDelivery.objects.filter(endpoint=endpoint).defer("payload").order_by("-pk")
    if params.status:
        rows = rows.filter(status=params.status)
    start = (params.page - 1) * params.page_size
    items = list(rows[start : start + params.page_size])
    attempts = _attempts_by_delivery([d.pk for d in items])
    return {
        "count": rows.count(),
        "page": params.page,
        "page_size": params.page_size,
        "items": [_delivery_out(d, attempts.get(d.pk, [])) for d in items],
    }


@router.get(
    "/webhooks/deliveries/{int:delivery_id}", response=DeliveryDetail, summary="One delivery with its body"
)
def get_delivery(request, delivery_id: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound
    return _delivery_out(delivery, _attempts_by_delivery([delivery.pk]).get(delivery.pk, []), with_body=True)


@router.post(
    "/webhooks/deliveries/{int:delivery_id}/redeliver",
    response=DeliveryOut,
    summary="Send a delivery again (same webhook-id)",
)
def redeliver(request, delivery_id: int):
    delivery = actions.redeliver(delivery_id, actor=request.user)
    return _delivery_out(delivery, _attempts_by_delivery([delivery.pk]).get(delivery.pk, []))
