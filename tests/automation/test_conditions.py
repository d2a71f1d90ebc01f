"""One condition evaluator, two ways: the SQL of a condition (sweeps, preview) and its Python
evaluation on one loaded record (events) select the same records, for every operator of every
field type the catalogue offers — built-in, custom, related and computed fields."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from guanxi.automation import conditions as cond
from guanxi.automation.fields import Catalogue
from guanxi.customers.models import Customer
from guanxi.customization import actions as customization
from guanxi.customization.models import FieldType
from guanxi.customization.registry.operators import NO_VALUE_OPS, Op
from guanxi.engagement.models import Task
from guanxi.sales.models import Order, OrderStatus
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

CUSTOM = [
    ("note", "text", {}), ("budget", "money", {}), ("score", "number", {}), ("signed", "date", {}),
    ("visit", "datetime", {}), ("vip", "boolean", {}), ("grade", "single_select", {"options": "金|Gold\n银|Silver"}),
    ("hobby", "multi_select", {"options": "茶|Tea\n酒|Wine\n棋|Chess"}), ("rep", "user", {}),
]  # fmt: skip


@pytest.fixture
def people(org):
    for key, kind, extra in CUSTOM:
        customization.create_custom_field(
            {"object_type": "customer", "key": key, "label_zh": key, "type": kind, **extra}, actor=org.admin
        )
    now = timezone.now()
    rows = [
        dict(name="张伟", city="上海", tier="A", birthday=dt.date(1990, 5, 1), completeness=80, tags=["重要"],
             cf={"note": "Tea lover", "budget": 1500.5, "score": 7, "signed": (now - dt.timedelta(days=3)).date().isoformat(),
                 "visit": (now - dt.timedelta(days=1)).isoformat(), "vip": True, "grade": "金", "hobby": ["茶", "棋"],
                 "rep": org.rep_e1.pk}, order=(now - dt.timedelta(days=40), "300.00")),
        dict(name="李娜", city="北京", tier="B", birthday=None, completeness=20, tags=[],
             cf={"note": "wine", "budget": 99, "score": 10, "signed": (now + dt.timedelta(days=5)).date().isoformat(),
                 "vip": False, "grade": "银", "hobby": ["酒"]}, order=(now - dt.timedelta(days=2), "1200.00")),
        dict(name="王芳 Tea", city="", tier="", birthday=timezone.localdate(), completeness=50, tags=["重要", "新"],
             cf={}, order=None),
        dict(name="Zhao", city="上海市", tier="C", birthday=dt.date(1985, 1, 31), completeness=100, tags=["新"],
             cf={"note": "", "score": 0, "hobby": []}, order=(now - dt.timedelta(days=400), "50.00")),
    ]  # fmt: skip
    owners = [org.rep_e1, org.rep_e2, None, org.manager_e]
    for row, owner in zip(rows, owners, strict=True):
        customer = make_customer(owner, name=row["name"], tags=row["tags"], custom_fields=row["cf"])
        Customer.objects.filter(pk=customer.pk).update(
            city=row["city"], tier=row["tier"], birthday=row["birthday"], completeness=row["completeness"],
            last_follow_up_at=now - dt.timedelta(days=row["completeness"] // 10),
        )  # fmt: skip
        if row["order"]:
            Order.objects.create(customer=customer, number=f"O-{customer.pk}", ordered_at=row["order"][0],
                                 amount=decimal.Decimal(row["order"][1]), status=OrderStatus.PAID)  # fmt: skip
    return org


def _values(spec, op, org) -> list:
    """Values to test `op` with on a field of this type (the registry's cleaning decides validity)."""
    if op in NO_VALUE_OPS:
        return [None]
    if op in (Op.LAST_DAYS, Op.NEXT_DAYS, Op.OLDER_THAN_DAYS):
        return [0, 2, 7, 60]
    if spec.type in (FieldType.DATE, FieldType.DATETIME):
        today = timezone.localdate()
        return [today.isoformat(), (today - dt.timedelta(days=3)).isoformat(), "1990-05-01"]
    if spec.type in (FieldType.NUMBER, FieldType.MONEY):
        return [0, 7, 99, 300, 1500.5]
    if spec.type == FieldType.BOOLEAN:
        return [True, False]
    if spec.type == FieldType.USER:
        return [org.rep_e1.pk, [org.rep_e1.pk, org.manager_e.pk]] if op == Op.IN else [org.rep_e1.pk]
    if spec.type == FieldType.LINKED_RECORD:
        return [org.customers["c_e1"].pk, org.customers["c_s1"].pk]
    if spec.choices:
        keys = [key for key, _zh, _en in spec.choices][:3]
        return [keys] if op == Op.IN else keys
    if op == Op.IN:
        return [["上海", "北京"]]
    return ["上海", "tea", "Tea lover", "张"]


def _agree_on_every_operator(catalogue: Catalogue, org) -> None:
    checked = set()
    for spec in catalogue.fields():
        if not spec.filterable:
            continue
        for op in spec.ops:
            for value in _values(spec, op, org):
                document = {
                    "all": [{"field": spec.ref, "op": op, **({} if value is None else {"value": value})}]
                }
                try:
                    group = cond.parse(document, catalogue, allow_changes=False)
                except ValidationError:
                    continue  # a value this type does not take
                qs = catalogue.queryset(cond.refs(group))
                by_sql = set(qs.filter(cond.as_q(group, catalogue)).values_list("pk", flat=True))
                by_python = {obj.pk for obj in qs if cond.matches(group, obj, catalogue)}
                assert by_sql == by_python, (spec.ref, op, value)
                checked.add((spec.type, op))
    every = {(spec.type, op) for spec in catalogue.fields() if spec.filterable for op in spec.ops}
    assert every <= checked, sorted(every - checked)


def test_sql_and_python_agree_on_every_operator_of_every_field(people):
    _agree_on_every_operator(Catalogue("customer"), people)


def test_sql_and_python_agree_on_every_operator_of_every_task_field(org):
    """Tasks: built-in fields only (an integer priority among them) plus their customer's tier and
    owner and the owner's department; tasks with and without a customer."""
    now = timezone.now()
    Customer.objects.filter(pk=org.customers["c_e1"].pk).update(tier="A")
    rows = [
        dict(title="签合同 Tea", description="带上报价", owner=org.rep_e1, customer=org.customers["c_e1"],
             due_at=now - dt.timedelta(days=1), priority=3, status="open", source="manual",
             created_at=now - dt.timedelta(days=3), completed_at=None),
        dict(title="回访", description="", owner=org.rep_e2, customer=None, due_at=now + dt.timedelta(days=2),
             priority=1, status="done", source="cadence", created_at=now - dt.timedelta(days=40),
             completed_at=now - dt.timedelta(hours=5)),
        dict(title="上海拜访", description="tea", owner=org.manager_e, customer=org.customers["c_s1"],
             due_at=timezone.localtime(now).replace(hour=12), priority=4, status="cancelled", source="rule",
             created_at=now, completed_at=None),
        dict(title="张总", description="", owner=org.admin, customer=org.customers["c_pool"],
             due_at=now - dt.timedelta(days=400), priority=2, status="open", source="follow_up",
             created_at=now - dt.timedelta(days=400), completed_at=None),
    ]  # fmt: skip
    for row in rows:
        created_at = row.pop("created_at")
        task = Task.objects.create(**row)
        Task.objects.filter(pk=task.pk).update(created_at=created_at)
    _agree_on_every_operator(Catalogue("task"), org)


def test_groups_nest_two_levels_and_agree(people):
    catalogue = Catalogue("customer")
    document = {"any": [
        {"all": [{"field": "tier", "op": "eq", "value": "A"}, {"field": "cf.vip", "op": "eq", "value": True}]},
        {"all": [{"field": "last_order_amount", "op": "gt", "value": 1000},
                 {"field": "owner.department", "op": "not_empty"}]},
    ]}  # fmt: skip
    group = cond.parse(document, catalogue, allow_changes=False)
    qs = catalogue.queryset(cond.refs(group))
    by_sql = set(qs.filter(cond.as_q(group, catalogue)).values_list("name", flat=True))
    assert by_sql == {obj.name for obj in qs if cond.matches(group, obj, catalogue)} == {"张伟", "李娜"}
    too_deep = {"all": [{"any": [{"all": [{"field": "tier", "op": "eq", "value": "A"}]}]}]}
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        cond.parse(too_deep, catalogue, allow_changes=False)
    assert "two levels" in str(exc.value)


@pytest.mark.parametrize(
    "condition, message",
    [
        ({"field": "nonexistent", "op": "eq", "value": 1}, "unknown field nonexistent"),
        ({"field": "tier", "op": "gt", "value": 1}, "cannot be filtered with gt"),
        ({"field": "completeness", "op": "eq", "value": "many"}, "Condition 1"),
        ({"field": "tier", "op": "changed"}, "triggered by an update"),
    ],
)
def test_bad_conditions_are_refused_naming_the_part(people, condition, message):
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        cond.parse({"all": [condition]}, Catalogue("customer"), allow_changes=False)
    assert message in " ".join(exc.value.message_dict["conditions"])


def test_changed_from_to_on_one_event(people):
    catalogue = Catalogue("customer")
    group = cond.parse({"all": [{"field": "tier", "op": "changed_to", "from": "B", "to": "A"}]}, catalogue,
                       allow_changes=True)  # fmt: skip
    obj = catalogue.queryset().first()
    assert cond.matches(group, obj, catalogue, changes={"tier": ("B", "A")})
    assert not cond.matches(group, obj, catalogue, changes={"tier": ("C", "A")})
    assert not cond.matches(group, obj, catalogue, changes={"city": ("x", "y")})
    assert cond.as_q(group, catalogue).children == []  # SQL: only meaningful for one event
