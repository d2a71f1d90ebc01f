"""Deal and pipeline endpoints: thin callers of `guanxi.sales.queries` (reads) and `actions` (writes).

Mounted at the API root: `/api/deals...` and `/api/pipelines...`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import ValidationError as RequestValidationError
from pydantic import RootModel

from guanxi.core import audit, locks
from guanxi.core.converters import MAX_ID
from guanxi.core.exceptions import NotFound, require
from guanxi.core.permissions import Perm
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject
from guanxi.sales import actions, queries
from guanxi.sales.models import Deal, Pipeline, PipelineObject, StageOutcome

router = Router()

CUSTOM_FIELDS_DOC = (
    "Custom field values keyed by field key (`GET /api/fields/deal` lists them); typed JSON or text, "
    "validated like the page form. Keys not given keep their value."
)


class DealCustomFields(RootModel[dict[str, Any]]):
    """Custom field values of a deal keyed by field key. The OpenAPI document lists the company's
    live deal custom fields here (one property each, with its type and choices)."""


class DealIn(Schema):
    customer_id: int = Field(..., description="The customer the deal belongs to (one you may see).")
    name: str = Field(..., description="At most 200 characters.")
    pipeline_id: int | None = Field(None, description="Defaults to the default sales pipeline.")
    stage_id: int | None = Field(None, description="Defaults to the pipeline's first open stage.")
    amount: decimal.Decimal | None = None
    discount_percent: decimal.Decimal | None = Field(None, description="0 to 100 (%).")
    currency: str = "CNY"
    owner_id: int | None = Field(None, description="Defaults to the caller; a user within your data scope.")
    expected_close_date: dt.date | None = None
    lost_reason: str = Field("", description="Required when the stage is a lost stage (a lost-reason key).")
    custom_fields: DealCustomFields = Field(DealCustomFields({}), description=CUSTOM_FIELDS_DOC)


class DealPatch(Schema):
    name: str | None = None
    pipeline_id: int | None = None
    stage_id: int | None = Field(None, description="Moving checks the stage's required fields.")
    amount: decimal.Decimal | None = None
    discount_percent: decimal.Decimal | None = Field(None, description="0 to 100 (%).")
    currency: str | None = None
    owner_id: int | None = None
    expected_close_date: dt.date | None = None
    lost_reason: str | None = None
    custom_fields: DealCustomFields | None = Field(None, description=CUSTOM_FIELDS_DOC)


class MoveIn(Schema):
    stage_id: int
    lost_reason: str = Field("", description="Required when moving to a lost stage.")


class Ref(Schema):
    id: int
    name: str


class StageRef(Schema):
    id: int
    name: str
    outcome: str
    probability: int


class DealOut(Schema):
    id: int
    name: str
    customer: Ref
    pipeline: Ref
    stage: StageRef
    amount: decimal.Decimal | None
    discount_percent: decimal.Decimal | None
    currency: str
    owner: Ref | None
    expected_close_date: dt.date | None
    closed_at: dt.datetime | None
    lost_reason: str
    custom_fields: DealCustomFields
    stage_changed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class HeldOut(Schema):
    detail: str = Field(..., description="Why the deal stayed in its stage (e.g. sent for approval).")
    held: bool = True
    deal: DealOut


class DealPage(Schema):
    count: int
    page: int
    page_size: int
    items: list[DealOut]


class DealListParams(Schema):
    q: str = Field("", max_length=100, description="Part of the deal's or the customer's name.")
    pipeline_id: int | None = Field(None, ge=1, le=MAX_ID)
    stage_id: int | None = Field(None, ge=1, le=MAX_ID)
    owner_id: int | None = Field(None, ge=1, le=MAX_ID)
    customer_id: int | None = Field(None, ge=1, le=MAX_ID)
    filters: str = Field(
        "",
        max_length=20000,
        description='Conditions as JSON, like a saved view\'s filters: `[{"field": "cf.budget", "op": "gt", '
        '"value": 1000}, {"field": "stage", "op": "eq", "value": "3"}]` (all must hold). Fields and their '
        "operators: `GET /api/fields/deal`.",
    )
    sort: str = Field(
        "",
        max_length=100,
        description='A field ref, "-" first for descending: "amount", "-updated_at", "cf.<key>".',
    )
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(25, ge=1, le=200)


class HistoryOut(Schema):
    id: int
    created_at: dt.datetime
    actor: str
    action: str
    request_id: str
    before: dict | None
    after: dict | None


class StageIn(Schema):
    id: int | None = Field(None, description="An existing stage of this pipeline; omit for a new stage.")
    name_zh: str
    name_en: str = ""
    probability: int = Field(0, description="0 to 100.")
    color: str = Field(
        "secondary", description="primary, secondary, success, danger, warning, info, dark or #rrggbb."
    )
    outcome: StageOutcome = StageOutcome.OPEN
    required_fields: list[str] = Field(
        default_factory=list, description='Deal fields needed to enter the stage: "amount", "owner", '
        '"expected_close_date" or "cf.<key>".',
    )  # fmt: skip


class PipelineIn(Schema):
    name_zh: str
    name_en: str = ""
    is_default: bool = False
    stages: list[StageIn] = Field(..., description="The stages in order.")


class PipelinePatch(Schema):
    name_zh: str | None = None
    name_en: str | None = None
    is_default: bool | None = None
    stages: list[StageIn] | None = Field(
        None,
        description="The full ordered list: a stage left out is removed (refused while it holds open deals).",
    )


class StageOut(Schema):
    id: int
    name_zh: str
    name_en: str
    position: int
    probability: int
    color: str
    outcome: str
    required_fields: list[str]


class PipelineOut(Schema):
    id: int
    name_zh: str
    name_en: str
    is_default: bool
    is_active: bool
    stages: list[StageOut]


# --------------------------------------------------------------------------- helpers


def _name(obj) -> str:
    return customfields._localized(obj.name_zh, obj.name_en)


def deal_out(deal: Deal, user, registry: customfields.Registry | None = None) -> dict:
    """A deal as `user` may see it (sensitive custom fields through the presenter)."""
    registry = registry or customfields.Registry(CustomObject.DEAL)
    return {
        "id": deal.pk,
        "name": deal.name,
        "customer": {"id": deal.customer_id, "name": deal.customer.name},
        "pipeline": {"id": deal.pipeline_id, "name": _name(deal.pipeline)},
        "stage": {
            "id": deal.stage_id,
            "name": _name(deal.stage),
            "outcome": deal.stage.outcome,
            "probability": deal.stage.probability,
        },
        "amount": deal.amount,
        "discount_percent": deal.discount_percent,
        "currency": deal.currency,
        "owner": {"id": deal.owner_id, "name": str(deal.owner)} if deal.owner_id else None,
        "expected_close_date": deal.expected_close_date,
        "closed_at": deal.closed_at,
        "lost_reason": deal.lost_reason,
        "custom_fields": registry.present_custom_values(deal.custom_fields or {}, user, deal),
        "stage_changed_at": deal.stage_changed_at,
        "created_at": deal.created_at,
        "updated_at": deal.updated_at,
    }


def _visible_or_404(request, deal_id: int) -> Deal:
    require(request.user, Perm.CUSTOMER_VIEW)
    deal = queries.get_visible(request.user, deal_id)
    if deal is None:
        raise NotFound(deal_id)
    return deal


def _query_error(param: str, messages: list[str]) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ["query", param], "msg": str(m), "type": "value_error"} for m in messages]
    )


def _pipeline_out(pipeline: Pipeline) -> dict:
    stages = [s for s in pipeline.stages.all() if s.is_active]
    return {
        "id": pipeline.pk,
        "name_zh": pipeline.name_zh,
        "name_en": pipeline.name_en,
        "is_default": pipeline.is_default,
        "is_active": pipeline.is_active,
        "stages": [
            {
                "id": s.pk,
                "name_zh": s.name_zh,
                "name_en": s.name_en,
                "position": s.position,
                "probability": s.probability,
                "color": s.color,
                "outcome": s.outcome,
                "required_fields": list(s.required_fields or []),
            }
            for s in sorted(stages, key=lambda s: (s.position, s.pk))
        ],
    }


def _pipelines():
    return Pipeline.objects.filter(object_type=PipelineObject.DEAL).prefetch_related("stages")


# --------------------------------------------------------------------------- deals


@router.get("/deals", response=DealPage, tags=["deals"], summary="List deals (of customers you may see)")
def list_deals(request, params: Query[DealListParams]):
    require(request.user, Perm.CUSTOMER_VIEW)
    try:
        conditions = json.loads(params.filters) if params.filters else []
    except (ValueError, RecursionError):
        raise _query_error("filters", [_("Filters must be JSON: a list of conditions.")]) from None
    filters = queries.DealFilters(
        q=params.q,
        pipeline_id=params.pipeline_id,
        stage_id=params.stage_id,
        owner_id=params.owner_id,
        customer_id=params.customer_id,
        conditions=conditions if conditions else [],
    )
    registry = customfields.Registry(CustomObject.DEAL)
    try:
        qs = queries.deal_list(request.user, filters, registry)
    except ValidationError as exc:
        raise _query_error("filters", exc.messages) from None
    except OverflowError:
        raise _query_error("filters", [_("A date is out of range.")]) from None
    ordering = ["-updated_at", "-id"]
    if params.sort:
        ordering = registry.ordering(params.sort, user=request.user)
        if ordering is None:
            raise _query_error("sort", [_("This field cannot be sorted on.")])
    qs = queries.with_list_relations(qs).order_by(*ordering)
    start = (params.page - 1) * params.page_size
    items = list(qs[start : start + params.page_size])
    return {
        "count": qs.count(),
        "page": params.page,
        "page_size": params.page_size,
        "items": [deal_out(d, request.user, registry) for d in items],
    }


@router.post("/deals", response={201: DealOut}, tags=["deals"], summary="Create a deal")
def create_deal(request, payload: DealIn):
    data = payload.model_dump(mode="json", exclude_unset=True)
    customer_id = data.pop("customer_id")
    deal = actions.create_deal(customer_id, data, actor=request.user)
    return Status(201, deal_out(queries.get_visible(None, deal.pk), request.user))


@router.get("/deals/{int:deal_id}", response=DealOut, tags=["deals"], summary="One deal")
def get_deal(request, deal_id: int):
    return deal_out(_visible_or_404(request, deal_id), request.user)


def _held(request, deal_id: int, exc: locks.TransitionHeld):
    deal = deal_out(_visible_or_404(request, deal_id), request.user)
    return Status(202, {"detail": exc.message, "held": True, "deal": deal})


@router.patch(
    "/deals/{int:deal_id}",
    response={200: DealOut, 202: HeldOut},
    tags=["deals"],
    summary="Change some fields of a deal (a new stage_id moves it)",
    description="202: the other changes were saved but the move was held back (sent for approval); "
    "422 while the deal is locked by a pending approval.",
)
def update_deal(request, deal_id: int, payload: DealPatch):
    data = payload.model_dump(mode="json", exclude_unset=True)
    try:
        actions.update_deal(deal_id, data, actor=request.user)
    except locks.TransitionHeld as exc:
        return _held(request, deal_id, exc)
    return deal_out(_visible_or_404(request, deal_id), request.user)


@router.post(
    "/deals/{int:deal_id}/move",
    response={200: DealOut, 202: HeldOut},
    tags=["deals"],
    summary="Move a deal to a stage",
    description="422 names what is missing: `stage_id` lists the stage's required fields the deal lacks, "
    "`lost_reason` is asked for a lost stage. 202: the move was held back (sent for approval).",
)
def move_deal(request, deal_id: int, payload: MoveIn):
    try:
        actions.move_deal(deal_id, payload.stage_id, actor=request.user, lost_reason=payload.lost_reason)
    except locks.TransitionHeld as exc:
        return _held(request, deal_id, exc)
    return deal_out(_visible_or_404(request, deal_id), request.user)


@router.get(
    "/deals/{int:deal_id}/history", response=list[HistoryOut], tags=["deals"], summary="Change history"
)
def deal_history(request, deal_id: int):
    deal = _visible_or_404(request, deal_id)
    registry = customfields.Registry(CustomObject.DEAL)
    entries = audit.history_for(deal)[: settings.GUANXI_PAGE_SIZE * 4]
    return [
        {
            "id": e.pk,
            "created_at": e.created_at,
            "actor": e.actor_label,
            "action": e.action,
            "request_id": e.request_id,
            "before": _shown_change(e.before, registry, request.user, deal),
            "after": _shown_change(e.after, registry, request.user, deal),
        }
        for e in entries
    ]


def _shown_change(data, registry: customfields.Registry, user, deal: Deal):
    if isinstance(data, dict) and "custom_fields" in data:
        return {**data, "custom_fields": registry.present_custom_values(data["custom_fields"], user, deal)}
    return data


# --------------------------------------------------------------------------- pipelines


@router.get(
    "/pipelines", response=list[PipelineOut], tags=["pipelines"], summary="Sales pipelines and stages"
)
def list_pipelines(request):
    require(request.user, Perm.CUSTOMER_VIEW)
    return [_pipeline_out(p) for p in _pipelines().filter(is_active=True).order_by("position", "id")]


@router.post(
    "/pipelines",
    response={201: PipelineOut},
    tags=["pipelines"],
    summary="Create a sales pipeline (settings.manage)",
)
def create_pipeline(request, payload: PipelineIn):
    data = payload.model_dump(mode="json")
    data["object_type"] = PipelineObject.DEAL
    pipeline = actions.save_pipeline(data, actor=request.user)
    return Status(201, _pipeline_out(_pipelines().get(pk=pipeline.pk)))


@router.patch(
    "/pipelines/{int:pipeline_id}",
    response=PipelineOut,
    tags=["pipelines"],
    summary="Change a sales pipeline and its stages (settings.manage)",
)
def update_pipeline(request, pipeline_id: int, payload: PipelinePatch):
    require(request.user, Perm.SETTINGS_MANAGE)
    if not _pipelines().filter(pk=pipeline_id if 0 < pipeline_id <= MAX_ID else None).exists():
        raise NotFound(pipeline_id)
    data = payload.model_dump(mode="json", exclude_unset=True)
    if data.get("stages") is None:
        data.pop("stages", None)
    pipeline = actions.save_pipeline(data, actor=request.user, pipeline_id=pipeline_id)
    return _pipeline_out(_pipelines().get(pk=pipeline.pk))
