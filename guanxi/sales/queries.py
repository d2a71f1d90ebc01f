"""Deal reads. Every read starts from `Deal.objects.visible_to(user)` (the customer's data scope)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from guanxi.core.converters import as_id
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject
from guanxi.sales.models import Deal, Pipeline, PipelineObject, Stage

CARDS_PER_COLUMN = 50


@dataclass(frozen=True)
class DealFilters:
    q: str = ""
    pipeline_id: int | None = None
    stage_id: int | None = None
    owner_id: int | None = None
    customer_id: int | None = None
    # Registry conditions [{"field", "op", "value"}] (validated by `Registry.filter_q`).
    conditions: list[dict[str, Any]] = field(default_factory=list)


def visible_deals(user) -> QuerySet:
    """Deals the user may see; deals of customers in the recycle bin are hidden with them."""
    return Deal.objects.visible_to(user).filter(customer__deleted_at__isnull=True)


def get_visible(user, deal_id: Any) -> Deal | None:
    pk = as_id(deal_id)
    if pk is None:
        return None
    return (
        visible_deals(user)
        .select_related("customer", "owner", "pipeline", "stage", "created_by")
        .filter(pk=pk)
    ).first()


def deal_pipelines() -> list[Pipeline]:
    return list(
        Pipeline.objects.filter(object_type=PipelineObject.DEAL, is_active=True).order_by("position", "id")
    )


def active_stages(pipeline: Pipeline) -> list[Stage]:
    return list(pipeline.stages.filter(is_active=True).order_by("position", "id"))


def stages_by_pipeline() -> list[tuple[Pipeline, list[Stage]]]:
    """Every active deal pipeline with its active stages (two queries)."""
    pipelines = deal_pipelines()
    stages: dict[int, list[Stage]] = {p.pk: [] for p in pipelines}
    for stage in Stage.objects.filter(pipeline__in=pipelines, is_active=True).order_by("position", "id"):
        stages[stage.pipeline_id].append(stage)
    return [(p, stages[p.pk]) for p in pipelines]


def deal_list(user, filters: DealFilters, registry: customfields.Registry | None = None) -> QuerySet:
    """The user's deals matching the filters (raises ValidationError for bad conditions)."""
    qs = visible_deals(user)
    if filters.pipeline_id is not None:
        qs = qs.filter(pipeline_id=filters.pipeline_id)
    if filters.stage_id is not None:
        qs = qs.filter(stage_id=filters.stage_id)
    if filters.owner_id is not None:
        qs = qs.filter(owner_id=filters.owner_id)
    if filters.customer_id is not None:
        qs = qs.filter(customer_id=filters.customer_id)
    q = " ".join(filters.q.split())[:100]
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(customer__name__icontains=q))
    if filters.conditions:
        registry = registry or customfields.Registry(CustomObject.DEAL)
        qs = qs.filter(registry.filter_q(filters.conditions, user=user))
    return qs


def with_list_relations(qs: QuerySet) -> QuerySet:
    return qs.select_related("customer", "owner", "stage", "pipeline")


def board(user, pipeline: Pipeline, filters: DealFilters) -> list[dict]:
    """Kanban columns of a pipeline: each active stage with its count, amount sum and first cards.

    One aggregate query for all columns and one query per column for its cards.
    """
    qs = deal_list(user, filters).filter(pipeline=pipeline)
    totals = {
        row["stage_id"]: row
        for row in qs.order_by().values("stage_id").annotate(count=Count("id"), total=Sum("amount"))
    }
    columns = []
    for stage in active_stages(pipeline):
        row = totals.get(stage.pk, {})
        cards = list(
            with_list_relations(qs.filter(stage=stage)).order_by("-updated_at", "-id")[:CARDS_PER_COLUMN]
        )
        columns.append(
            {
                "stage": stage,
                "count": row.get("count", 0),
                "total": row.get("total") or Decimal("0"),
                "cards": cards,
                "more": max(row.get("count", 0) - len(cards), 0),
            }
        )
    return columns


def customer_deals(user, customer) -> QuerySet:
    return with_list_relations(visible_deals(user).filter(customer=customer)).order_by("-updated_at", "-id")
