"""Order fields in the field registry (`guanxi.customization.registry`)."""

from __future__ import annotations

from collections.abc import Iterable

from guanxi.customers.models import Channel, Customer
from guanxi.customization.actions import register_field_references, register_picklist_column
from guanxi.customization.models import CustomObject, FieldType
from guanxi.customization.registry import FieldSpec, ObjectSpec, enum_choices, register_object
from guanxi.sales.actions import LOST_REASONS, lost_reasons
from guanxi.sales.models import Deal, Order, OrderStatus, Pipeline, PipelineObject, Stage


def builtin_fields() -> list[FieldSpec]:
    return [
        FieldSpec("number", FieldType.TEXT, "订单号", "Order number"),
        FieldSpec("customer", FieldType.LINKED_RECORD, "客户", "Customer", path="customer_id",
             getter=lambda o: o.customer.name),
        FieldSpec("ordered_at", FieldType.DATETIME, "下单时间", "Ordered at"),
        FieldSpec("amount", FieldType.MONEY, "金额", "Amount"),
        FieldSpec("channel", FieldType.SINGLE_SELECT, "渠道", "Channel", choices=enum_choices(Channel)),
        FieldSpec("status", FieldType.SINGLE_SELECT, "状态", "Status", choices=enum_choices(OrderStatus)),
    ]  # fmt: skip


def _names(ids: Iterable[int]) -> dict[int, str]:
    return dict(Order.objects.filter(pk__in=list(ids)).values_list("pk", "number"))


def _visible_ids(user, ids: Iterable[int]) -> set[int]:
    visible = Customer.objects.visible_to(user)
    return set(Order.objects.filter(pk__in=list(ids), customer__in=visible).values_list("pk", flat=True))


def register() -> None:
    register_object(
        ObjectSpec(
            object_type=CustomObject.ORDER,
            model=Order,
            builtin=builtin_fields,
            names=_names,
            visible_ids=_visible_ids,
            default_layout=lambda: [
                {
                    "title_zh": "订单",
                    "title_en": "Order",
                    "fields": ["number", "ordered_at", "amount", "channel", "status"],
                }
            ],  # fmt: skip
            required_refs=("number", "ordered_at", "amount"),
        )
    )


def deal_fields() -> list[FieldSpec]:
    pipelines = [
        (str(p.pk), p.name_zh, p.name_en)
        for p in Pipeline.objects.filter(object_type=PipelineObject.DEAL, is_active=True)
    ]
    stages = [
        (str(s.pk), s.name_zh, s.name_en)
        for s in Stage.objects.filter(pipeline__object_type=PipelineObject.DEAL, is_active=True)
        .select_related("pipeline")
        .order_by("pipeline__position", "pipeline_id", "position")
    ]
    return [
        FieldSpec("name", FieldType.TEXT, "商机名称", "Deal name", required=True),
        FieldSpec("customer", FieldType.LINKED_RECORD, "客户", "Customer", path="customer_id",
             getter=lambda d: d.customer.name),
        FieldSpec("pipeline", FieldType.SINGLE_SELECT, "销售流程", "Pipeline", path="pipeline_id", choices=pipelines,
             getter=lambda d: str(d.pipeline_id)),
        FieldSpec("stage", FieldType.SINGLE_SELECT, "阶段", "Stage", path="stage_id", choices=stages,
             getter=lambda d: str(d.stage_id)),
        FieldSpec("amount", FieldType.MONEY, "金额", "Amount"),
        FieldSpec("discount_percent", FieldType.NUMBER, "折扣（%）", "Discount (%)"),
        FieldSpec("owner", FieldType.USER, "负责人", "Owner", path="owner_id",
             getter=lambda d: (d.owner.display_name or d.owner.username) if d.owner_id else ""),
        FieldSpec("expected_close_date", FieldType.DATE, "预计成交日期", "Expected close date"),
        FieldSpec("closed_at", FieldType.DATETIME, "关闭时间", "Closed"),
        FieldSpec("probability", FieldType.NUMBER, "赢率", "Probability", path="stage__probability",
             getter=lambda d: d.stage.probability),
        FieldSpec("lost_reason", FieldType.SINGLE_SELECT, "输单原因", "Lost reason", choices=lost_reasons()),
        FieldSpec("created_at", FieldType.DATETIME, "创建时间", "Created"),
        FieldSpec("updated_at", FieldType.DATETIME, "更新时间", "Updated"),
    ]  # fmt: skip


def _deal_names(ids: Iterable[int]) -> dict[int, str]:
    return dict(Deal.objects.filter(pk__in=list(ids)).values_list("pk", "name"))


def _deal_visible_ids(user, ids: Iterable[int]) -> set[int]:
    return set(Deal.objects.visible_to(user).filter(pk__in=list(ids)).values_list("pk", flat=True))


def _rename_stage_refs(swap) -> None:
    """Deal stages name their required fields by reference ("cf.<key>"); a renamed field follows."""
    for stage in Stage.objects.filter(pipeline__object_type="deal"):
        required = [swap(r) for r in stage.required_fields or []]
        if required != (stage.required_fields or []):
            stage.required_fields = required
            stage.save(update_fields=["required_fields"])


def register_deals() -> None:
    register_picklist_column(LOST_REASONS, Deal, "lost_reason")
    register_field_references(CustomObject.DEAL, _rename_stage_refs)
    register_object(
        ObjectSpec(
            object_type=CustomObject.DEAL,
            model=Deal,
            builtin=deal_fields,
            names=_deal_names,
            visible_ids=_deal_visible_ids,
            default_layout=lambda: [
                {
                    "title_zh": "商机",
                    "title_en": "Deal",
                    "fields": [
                        "name",
                        "pipeline",
                        "stage",
                        "amount",
                        "discount_percent",
                        "owner",
                        "expected_close_date",
                    ],
                }
            ],  # fmt: skip
            required_refs=("name",),
        )
    )
