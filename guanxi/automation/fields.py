"""What a rule can read about a record: the field registry's fields plus related and computed ones.

`Catalogue(object_type)` is the registry's `Registry` (built-in and custom fields) extended with
fields a rule needs that a list view does not: the owner's department, a deal's or a task's customer's tier,
the customer's last order date and amount. Each extra field is an ordinary `FieldSpec` whose `path`
is an ORM path or an annotation added by `queryset()`, so conditions on it are SQL for sweeps and
previews, and `load()` reads the same annotation for the Python evaluator: one definition, both
ways.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery

from guanxi.core.models import Department
from guanxi.customers.models import LifecycleStage, Tier
from guanxi.customization.models import CustomObject, FieldType
from guanxi.customization.registry import FieldSpec, Registry, enum_choices, object_spec
from guanxi.customization.registry.operators import Op
from guanxi.customization.registry.spec import _builtin_q
from guanxi.engagement.fields import TASK
from guanxi.sales.models import Order, OrderStatus

# Object types a rule may be about (those the field registry knows; a task has built-in fields only).
OBJECT_TYPES = (CustomObject.CUSTOMER, CustomObject.DEAL, CustomObject.ORDER, CustomObject.FOLLOW_UP, TASK)


def object_label(object_type: str) -> str:
    """What users call the object type (custom-field objects by their choice label, others by their
    model's verbose name)."""
    if object_type in CustomObject.values:
        return str(CustomObject(object_type).label)
    return str(object_spec(object_type).model._meta.verbose_name)


def _departments() -> list[tuple[str, str, str]]:
    return [
        (str(pk), name, name) for pk, name in Department.objects.order_by("path").values_list("pk", "name")
    ]


@dataclass
class Extra:
    """A related or computed field: its spec (built lazily: choices may need a query), the
    annotations it needs and the select_related paths that make reading it free."""

    spec: Callable[[], FieldSpec]
    annotations: Callable[[], dict[str, Any]] = dict
    select_related: tuple[str, ...] = ()


def _last_paid_order(customer_ref: str) -> QuerySet:
    return Order.objects.filter(customer=OuterRef(customer_ref), status=OrderStatus.PAID).order_by(
        "-ordered_at", "-id"
    )


CUSTOMER_EXTRAS = {
    "owner.department": Extra(
        lambda: FieldSpec("owner.department", FieldType.SINGLE_SELECT, "负责人部门", "Owner's department",
                          path="owner__department_id", choices=_departments()),
        select_related=("owner",),
    ),
    "last_order_at": Extra(
        lambda: FieldSpec("last_order_at", FieldType.DATETIME, "最近下单时间", "Last order date", path="auto_last_order_at"),
        lambda: {"auto_last_order_at": Subquery(_last_paid_order("pk").values("ordered_at")[:1])},
    ),
    "last_order_amount": Extra(
        lambda: FieldSpec("last_order_amount", FieldType.MONEY, "最近订单金额", "Last order amount", path="auto_last_order_amount"),
        lambda: {"auto_last_order_amount": Subquery(_last_paid_order("pk").values("amount")[:1])},
    ),
}  # fmt: skip

DEAL_EXTRAS = {
    "customer.tier": Extra(
        lambda: FieldSpec("customer.tier", FieldType.SINGLE_SELECT, "客户等级", "Customer's tier",
                          path="customer__tier", choices=enum_choices(Tier)),
        select_related=("customer",),
    ),
    "customer.lifecycle_stage": Extra(
        lambda: FieldSpec("customer.lifecycle_stage", FieldType.SINGLE_SELECT, "客户生命周期阶段",
                          "Customer's lifecycle stage", path="customer__lifecycle_stage",
                          choices=enum_choices(LifecycleStage)),
        select_related=("customer",),
    ),
    "owner.department": Extra(
        lambda: FieldSpec("owner.department", FieldType.SINGLE_SELECT, "负责人部门", "Owner's department",
                          path="owner__department_id", choices=_departments()),
        select_related=("owner",),
    ),
}  # fmt: skip

ORDER_EXTRAS = {
    "customer.tier": DEAL_EXTRAS["customer.tier"],
    "customer.owner": Extra(
        lambda: FieldSpec("customer.owner", FieldType.USER, "客户负责人", "Customer's owner", path="customer__owner_id"),
        select_related=("customer",),
    ),
}  # fmt: skip

TASK_EXTRAS = {
    "customer.tier": DEAL_EXTRAS["customer.tier"],
    "customer.owner": ORDER_EXTRAS["customer.owner"],
    "owner.department": DEAL_EXTRAS["owner.department"],
}

EXTRAS: dict[str, dict[str, Extra]] = {
    CustomObject.CUSTOMER: CUSTOMER_EXTRAS,
    CustomObject.DEAL: DEAL_EXTRAS,
    CustomObject.ORDER: ORDER_EXTRAS,
    TASK: TASK_EXTRAS,
}


class Catalogue:
    """Every field a rule on `object_type` can test or write, loaded once per use."""

    def __init__(self, object_type: str) -> None:
        if object_type not in OBJECT_TYPES:
            raise LookupError(object_type)
        self.object_type = object_type
        self.registry = Registry(object_type)
        self.object = object_spec(object_type)
        self.model = self.object.model
        self._extras = EXTRAS.get(object_type, {})
        self._extra_specs: dict[str, FieldSpec] = {}

    def get(self, ref: str) -> FieldSpec | None:
        if ref in self._extras:
            if ref not in self._extra_specs:
                self._extra_specs[ref] = self._extras[ref].spec()
            return self._extra_specs[ref]
        return self.registry.get(ref)

    def extras_named_in(self, text: str) -> list[str]:
        """The related and computed fields whose name `text` (a rule's actions as JSON: templates,
        branch conditions) mentions: what must be read with the record for its steps."""
        return [ref for ref in self._extras if ref in text]

    def fields(self) -> list[FieldSpec]:
        return [*self.registry.fields(), *(self.get(ref) for ref in self._extras)]

    def base(self) -> QuerySet:
        manager = self.model.objects
        return manager.alive() if hasattr(manager, "alive") else manager.all()

    def queryset(self, refs: list[str] | None = None) -> QuerySet:
        """Live records with the annotations and joins the fields `refs` (all extras: None) need."""
        qs = self.base()
        wanted = self._extras if refs is None else [r for r in refs if r in self._extras]
        annotations: dict[str, Any] = {}
        related: list[str] = []
        for ref in wanted:
            extra = self._extras[ref]
            annotations.update(extra.annotations())
            related += extra.select_related
        if annotations:
            qs = qs.annotate(**annotations)
        if related:
            qs = qs.select_related(*dict.fromkeys(related))
        return qs

    def load(self, pk: int, refs: list[str] | None = None) -> Any | None:
        return self.queryset(refs).filter(pk=pk).first()

    def leaf_q(self, spec: FieldSpec, op: str, value: Any) -> Q:
        if spec.ref in self._extras:
            if op == Op.NE:  # annotations: SQL's NULL <> x is not true; "is not x" includes empty values
                path = spec.path or spec.ref
                return ~Q(**{path: value}) | Q(**{f"{path}__isnull": True})
            return _builtin_q(spec, op, value)
        condition = spec.filter_q(op, value)
        if spec.multi_valued:
            condition = Q(pk__in=self.model.objects.filter(condition).values("pk"))
        return condition

    def value(self, spec: FieldSpec, obj: Any) -> Any:
        """The stored value of `spec` on a record from `load()`/`queryset()` (not display text)."""
        if spec.is_custom:
            return spec.value_of(obj)
        path = spec.path or spec.ref
        if spec.multi_valued:  # "tags__name": the names of the related rows
            relation, _sep, attribute = path.partition("__")
            return [getattr(row, attribute) for row in getattr(obj, relation).all()]
        if spec.ref in self._extras and spec.type == FieldType.SINGLE_SELECT:
            value = _walk(obj, path)
            return None if value is None else str(value)
        return _walk(obj, path)


def _walk(obj: Any, path: str) -> Any:
    for part in path.split("__"):
        if obj is None:
            return None
        obj = getattr(obj, part, None)
    return obj
