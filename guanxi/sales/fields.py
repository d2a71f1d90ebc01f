"""Order fields in the field registry (`guanxi.core.customfields`)."""

from __future__ import annotations

from collections.abc import Iterable

from guanxi.core.customfields import FieldSpec, ObjectSpec, register_object
from guanxi.core.models import CustomObject, FieldType
from guanxi.customers.fields import _choices
from guanxi.customers.models import Channel
from guanxi.sales.models import OrderStatus


def builtin_fields() -> list[FieldSpec]:
    def spec(ref, kind, zh, en, **extra):
        result = FieldSpec(ref=ref, type=kind, label_zh=zh, label_en=en, **extra)
        result.all_choices = {k: (z, e) for k, z, e in result.choices}
        return result

    return [
        spec("number", FieldType.TEXT, "订单号", "Order number"),
        spec("customer", FieldType.LINKED_RECORD, "客户", "Customer", path="customer_id",
             getter=lambda o: o.customer.name),
        spec("ordered_at", FieldType.DATETIME, "下单时间", "Ordered at"),
        spec("amount", FieldType.MONEY, "金额", "Amount"),
        spec("channel", FieldType.SINGLE_SELECT, "渠道", "Channel", choices=_choices(Channel)),
        spec("status", FieldType.SINGLE_SELECT, "状态", "Status", choices=_choices(OrderStatus)),
    ]  # fmt: skip


def _names(ids: Iterable[int]) -> dict[int, str]:
    from guanxi.sales.models import Order

    return dict(Order.objects.filter(pk__in=list(ids)).values_list("pk", "number"))


def _visible_ids(user, ids: Iterable[int]) -> set[int]:
    from guanxi.customers.models import Customer
    from guanxi.sales.models import Order

    visible = Customer.objects.visible_to(user)
    return set(Order.objects.filter(pk__in=list(ids), customer__in=visible).values_list("pk", flat=True))


def register() -> None:
    from guanxi.sales.models import Order

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
