"""Customer endpoints: thin callers of queries (reads) and actions (writes)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import ValidationError as RequestValidationError
from pydantic import RootModel, field_validator

from guanxi.core import audit
from guanxi.core.converters import MAX_ID
from guanxi.core.exceptions import NotFound, require
from guanxi.core.permissions import Perm
from guanxi.customers import actions, queries
from guanxi.customers.models import Channel, ContactKind, Customer, CustomerKind, Gender, LifecycleStage, Tier
from guanxi.customization import actions as customization
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject
from guanxi.customization.schemas import storable_problem

router = Router(tags=["customers"])


class CustomerCustomFields(RootModel[dict[str, Any]]):
    """Custom field values keyed by field key. The OpenAPI document lists the company's live custom
    fields here (one property each, with its type and choices); keys not listed are rejected (422)."""


class ContactPointIn(Schema):
    kind: ContactKind
    value: str
    source: Channel = Channel.API
    source_ref: str = ""
    verified: bool = False


class CustomerIn(Schema):
    kind: CustomerKind = CustomerKind.PERSON
    name: str = Field(..., description="Person or company name (max 100 / 200 characters, no < or >).")
    company_id: int | None = None
    company_name: str | None = Field(
        None, description="Link to the company with this name, creating it if needed."
    )
    title: str = ""
    gender: Gender = Gender.UNKNOWN
    birthday: dt.date | None = None
    industry: str = ""
    province: str = ""
    city: str = ""
    address: str = ""
    source: Channel = Channel.API
    owner_id: int | None = Field(
        None, description="Defaults to the caller. Others need the assign permission."
    )
    lifecycle_stage: LifecycleStage = LifecycleStage.POTENTIAL
    tier: Tier = Tier.NONE
    tags: list[str] = []
    notes: str = ""
    custom_fields: CustomerCustomFields = CustomerCustomFields({})
    phone: str = Field("", description="Primary phone; Chinese mobiles in any format.")
    email: str = ""
    wechat_id: str = ""
    contact_points: list[ContactPointIn] = []


class CustomerPatch(Schema):
    kind: CustomerKind | None = None
    name: str | None = None
    company_id: int | None = None
    company_name: str | None = None
    title: str | None = None
    gender: Gender | None = None
    birthday: dt.date | None = None
    industry: str | None = None
    province: str | None = None
    city: str | None = None
    address: str | None = None
    source: Channel | None = None
    owner_id: int | None = None
    lifecycle_stage: LifecycleStage | None = None
    tier: Tier | None = None
    tags: list[str] | None = None
    notes: str | None = None
    custom_fields: CustomerCustomFields | None = None
    phone: str | None = None
    email: str | None = None
    wechat_id: str | None = None
    contact_points: list[ContactPointIn] | None = None


class Ref(Schema):
    id: int
    name: str


class ContactPointOut(Schema):
    id: int
    kind: str
    value: str
    source: str
    verified: bool
    is_primary: bool


class CustomerOut(Schema):
    id: int
    kind: str
    name: str
    name_pinyin: str
    company: Ref | None
    title: str
    gender: str
    birthday: dt.date | None
    industry: str
    province: str
    city: str
    address: str
    source: str
    owner: Ref | None
    lifecycle_stage: str
    tier: str
    tags: list[str]
    notes: str
    custom_fields: CustomerCustomFields
    phone: str
    email: str
    wechat_id: str
    contact_points: list[ContactPointOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerPage(Schema):
    count: int
    page: int
    page_size: int
    items: list[CustomerOut]


MAX_PAGE = 10_000_000  # keeps the row offset a valid BIGINT


class ListParams(Schema):
    q: str = Field("", description="Name, pinyin or initials, phone (or its last digits), email, WeChat ID.")
    kind: CustomerKind | None = None
    owner_id: int | None = Field(None, ge=1, le=MAX_ID)
    lifecycle_stage: LifecycleStage | None = None
    tier: Tier | None = None
    source: Channel | None = None
    tag: str = ""
    city: str = ""
    filters: str = Field(
        "",
        max_length=20000,
        description='Conditions as JSON, exactly like a saved view\'s filters: `[{"field": "cf.grade", '
        '"op": "eq", "value": "a"}, {"field": "owner", "op": "eq", "value": 7}]` (all must hold). '
        "Fields and their operators: `GET /api/fields/customer`.",
    )
    view: int | None = Field(
        None, ge=1, le=MAX_ID, description="A saved view you may use: its filters (and sort) apply."
    )
    sort: str = Field(
        "",
        max_length=100,
        description='A field ref, "-" first for descending: "name", "-created_at", "cf.<key>". '
        "Default: the view's sort, else newest first.",
    )
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(25, ge=1, le=200)

    @field_validator("q", "tag", "city", "filters", "sort")
    @classmethod
    def _storable(cls, value: str) -> str:
        # PostgreSQL refuses NUL in text parameters: a clear 422 instead of a database error.
        problem = storable_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class HistoryOut(Schema):
    id: int
    created_at: dt.datetime
    actor: str
    action: str
    request_id: str
    before: dict | None
    after: dict | None


def customer_out(user, c: Customer, registry: customfields.Registry | None = None) -> dict:
    """A customer as `user` may see it: phones and sensitive custom fields through the presenter."""
    all_points = list(c.contact_points.all()) if not hasattr(c, "primary_contacts") else c.primary_contacts
    registry = registry or customfields.Registry(CustomObject.CUSTOMER)
    return {
        **{f: getattr(c, f) for f in actions.SNAPSHOT_FIELDS if f not in {"company_id", "owner_id"}},
        "custom_fields": registry.present_custom_values(c.custom_fields or {}, user, c),
        "id": c.pk,
        "name_pinyin": c.name_pinyin,
        "company": {"id": c.company.pk, "name": c.company.name} if c.company_id else None,
        "owner": {"id": c.owner.pk, "name": str(c.owner)} if c.owner_id else None,
        "tags": [t.name for t in c.tags.all()],
        "phone": queries.shown_contact(user, c, queries.primary_contact(c, ContactKind.PHONE)),
        "email": queries.shown_contact(user, c, queries.primary_contact(c, ContactKind.EMAIL)),
        "wechat_id": queries.shown_contact(user, c, queries.primary_contact(c, ContactKind.WECHAT_ID)),
        "contact_points": [
            {
                "id": p.pk,
                "kind": p.kind,
                "value": queries.shown_contact(user, c, p),
                "source": p.source,
                "verified": p.verified,
                "is_primary": p.is_primary,
            }
            for p in all_points
        ],
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _visible_or_404(request: HttpRequest, customer_id: int) -> Customer:
    require(request.user, Perm.CUSTOMER_VIEW)
    customer = queries.get_visible(request.user, customer_id)
    if customer is None:
        raise NotFound(customer_id)
    return customer


@router.get("", response=CustomerPage, summary="List and search customers (scoped to the caller)")
def list_customers(request, params: Query[ListParams]):
    require(request.user, Perm.CUSTOMER_VIEW)
    filters = queries.CustomerFilters(
        q=params.q,
        kind=params.kind or "",
        owner_id=params.owner_id,
        lifecycle_stage=params.lifecycle_stage or "",
        tier=params.tier or "",
        source=params.source or "",
        tag=params.tag,
        city=params.city,
    )
    qs = queries.customer_list(request.user, filters)
    registry = customfields.Registry(CustomObject.CUSTOMER)
    if params.filters or params.view is not None or params.sort:
        qs = _apply_view_params(request.user, qs, params, registry)
    start = (params.page - 1) * params.page_size
    items = list(qs[start : start + params.page_size])
    return {
        "count": qs.count(),
        "page": params.page,
        "page_size": params.page_size,
        "items": [customer_out(request.user, c, registry) for c in items],
    }


def _query_error(param: str, messages: list[str]) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ["query", param], "msg": str(m), "type": "value_error"} for m in messages]
    )


def _conditions_q(registry: customfields.Registry, conditions: Any, param: str, *, user):
    try:
        return registry.filter_q(conditions, user=user)
    except ValidationError as exc:
        raise _query_error(param, exc.messages) from None
    except OverflowError:  # a date at the very end of the calendar
        raise _query_error(param, [_("A date is out of range.")]) from None


def _apply_view_params(user, qs, params: ListParams, registry: customfields.Registry):
    """`view`, `filters` and `sort` on top of the scoped list: the same registry as saved views
    (conditions and sorts on fields masked for the user are refused: 422)."""
    sort = params.sort
    if params.view is not None:
        view = customization.views_for(user, CustomObject.CUSTOMER).filter(pk=params.view).first()
        if view is None:
            raise _query_error("view", [_("There is no saved view with this id that you may use.")])
        qs = qs.filter(_conditions_q(registry, view.filters, "view", user=user))
        sort = sort or view.sort
    if params.filters:
        try:
            conditions = json.loads(params.filters)
        except (ValueError, RecursionError):
            raise _query_error("filters", [_("Filters must be JSON: a list of conditions.")]) from None
        problem = storable_problem(conditions)
        if problem:
            raise _query_error("filters", [problem])
        qs = qs.filter(_conditions_q(registry, conditions, "filters", user=user))
    if sort:
        ordering = registry.ordering(sort, user=user)
        if ordering is None:
            raise _query_error("sort", [_("This field cannot be sorted on.")])
        qs = qs.order_by(*ordering)
    return qs


class DuplicateOut(Schema):
    customer_id: int | None
    matched_on: str
    exact: bool
    score: float
    owner_id: int | None
    owner_name: str
    visible: bool
    name: str
    message: str


class ConflictOut(Schema):
    detail: str
    policy: str
    can_confirm: bool
    duplicates: list[DuplicateOut]


class UpsertOut(Schema):
    outcome: str
    customer: CustomerOut


@router.post(
    "",
    response={201: CustomerOut, 409: ConflictOut},
    summary="Create a customer (with duplicate check)",
    description="If the customer looks like an existing one (same phone, email, WeChat id, or the same name "
    "in the same city/company) the answer is 409 with the matches and their owners. Send again with "
    "`confirm_duplicate=true` to create it anyway, unless the company policy blocks exact duplicates.",
)
def create_customer(request, payload: CustomerIn, confirm_duplicate: bool = False):
    data = payload.model_dump(mode="json", exclude_unset=True)
    customer = actions.create_customer(
        data, actor=request.user, default_source=Channel.API, confirm_duplicate=confirm_duplicate
    )
    return Status(201, customer_out(request.user, queries.get_visible(None, customer.pk)))


@router.get("/{int:customer_id}", response=CustomerOut, summary="One customer")
def get_customer(request, customer_id: int):
    return customer_out(request.user, _visible_or_404(request, customer_id))


@router.patch(
    "/{int:customer_id}",
    response={200: CustomerOut, 409: ConflictOut},
    summary="Change some fields of a customer",
)
def update_customer(request, customer_id: int, payload: CustomerPatch, confirm_duplicate: bool = False):
    data = payload.model_dump(mode="json", exclude_unset=True)
    actions.update_customer(customer_id, data, actor=request.user, confirm_duplicate=confirm_duplicate)
    return customer_out(request.user, _visible_or_404(request, customer_id))


@router.delete("/{int:customer_id}", response={204: None}, summary="Move a customer to the recycle bin")
def delete_customer(request, customer_id: int):
    actions.delete_customer(customer_id, actor=request.user)
    return Status(204, None)


@router.get("/{int:customer_id}/history", response=list[HistoryOut], summary="Change history of a customer")
def customer_history(request, customer_id: int):
    customer = _visible_or_404(request, customer_id)
    entries = queries.present_history(
        audit.history_for(customer)[: settings.GUANXI_PAGE_SIZE * 4], request.user, customer
    )
    return [
        {
            "id": e.pk,
            "created_at": e.created_at,
            "actor": e.actor_label,
            "action": e.action,
            "request_id": e.request_id,
            "before": e.before,
            "after": e.after,
        }
        for e in entries
    ]


UPSERT_KINDS = {
    "phone": ContactKind.PHONE,
    "email": ContactKind.EMAIL,
    "wechat_unionid": ContactKind.WECHAT_UNIONID,
    "wechat_openid": ContactKind.WECHAT_OPENID,
    "external_id": ContactKind.EXTERNAL_ID,
}


@router.put(
    "/by-identifier/{kind}/{value}",
    response={200: UpsertOut, 201: UpsertOut, 409: ConflictOut},
    summary="Create or update the customer holding an identifier (unified customer ID)",
    description="`kind` is phone, email, wechat_unionid, wechat_openid or external_id (then `value` is the id "
    "in your system, scoped to the `source` channel of the body). The body's fields are added to the "
    "existing customer (empty fields filled, new contact points added; `overwrite=true` replaces values), "
    "or a customer is created. Repeating the same call changes nothing.",
)
def upsert_by_identifier(request, kind: str, value: str, payload: CustomerPatch, overwrite: bool = False):
    if kind not in UPSERT_KINDS:
        raise ValidationError({"kind": [_("Use one of: %(kinds)s.") % {"kinds": ", ".join(UPSERT_KINDS)}]})
    data = payload.model_dump(mode="json", exclude_unset=True)
    channel = data.pop("source", None) or Channel.API
    external_ref = ""
    if kind == "external_id":
        external_ref = value
    elif kind in ("phone", "email"):
        data[kind] = value
    else:
        data["contact_points"] = [
            *(data.get("contact_points") or []),
            {"kind": UPSERT_KINDS[kind], "value": value},
        ]
    customer, outcome = actions.ingest_customer(
        data, actor=request.user, channel=channel, external_ref=external_ref, overwrite=overwrite
    )
    body = {
        "outcome": outcome,
        "customer": customer_out(request.user, queries.get_visible(None, customer.pk)),
    }
    return Status(201 if outcome == actions.IngestOutcome.CREATED else 200, body)
