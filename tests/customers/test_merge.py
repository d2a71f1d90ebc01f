"""Merge with survivorship, then unmerge: both customers and every related row are restored exactly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from guanxi.core.exceptions import NotFound
from guanxi.core.models import AuditEntry, Role
from guanxi.core.permissions import DataScope, Perm
from guanxi.customers import actions
from guanxi.customers.models import ContactPoint, Customer, DuplicateCandidate, MergeRecord
from guanxi.sales.models import Order
from tests.factories import make_customer, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def steward(org, roles):
    from tests.factories import make_user

    return make_user("steward", role=roles["data_steward"], department=org.hq)


def _order(customer, number, amount):
    return Order.objects.create(customer=customer, number=number, amount=Decimal(amount),
                                ordered_at=timezone.now() - dt.timedelta(days=3))  # fmt: skip


def _world(*customers):
    """Every row a merge may touch, as plain values (updated_at excluded: it records the change itself)."""
    ids = [c.pk for c in customers]
    rows = {
        "customers": [
            {k: v for k, v in row.items() if k != "updated_at"}
            for row in Customer.objects.filter(pk__in=ids).order_by("pk").values()
        ],
        "contacts_of": sorted(Customer.objects.filter(company_id__in=ids).values_list("pk", "company_id")),
        "points": list(ContactPoint.objects.filter(customer_id__in=ids).order_by("pk").values()),
        "orders": sorted(Order.objects.filter(customer_id__in=ids).values_list("pk", "customer_id")),
        "tags": sorted(
            Customer.tags.through.objects.filter(customer_id__in=ids).values_list("customer_id", "tag_id")
        ),
        "candidates": list(DuplicateCandidate.objects.order_by("pk").values("pk", "status")),
    }
    return rows


def test_merge_then_unmerge_restores_everything(org, steward):
    a = make_customer(org.rep_e1, name="李雷", phone="13911110001", email="lilei@example.com", city="",
                      tags=["VIP"], title="经理")  # fmt: skip
    b = make_customer(org.rep_e2, name="李雷", phone="13911110002", email="LILEI@example.com".lower() + ".cn",
                      city="宁波", tags=["展会", "VIP"], industry="制造")  # fmt: skip
    # b also holds a's phone (the typical duplicate): that point stays with b on merge.
    ContactPoint.objects.create(customer=b, kind="phone", normalized="+8613911110001", value="139 1111 0001")
    _order(a, "SO-A1", "100.00")
    _order(b, "SO-B1", "250.00")
    _order(b, "SO-B2", "80.50")
    company = make_customer(org.rep_e1, name="合并公司", kind="company")
    other_company = make_customer(org.rep_e2, name="合并公司(重复)", kind="company")
    contact = make_customer(org.rep_e2, name="公司联系人", company_id=other_company.pk)
    DuplicateCandidate.objects.create(customer_a=a, customer_b=b, cluster_key=a.pk, score=0.97)
    before = _world(a, b, company, other_company, contact)
    audit_before = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first()

    record = actions.merge_customers(a.pk, b.pk, actor=steward)
    a.refresh_from_db()
    b.refresh_from_db()
    assert b.deleted_at is not None and b.merged_into_id == a.pk
    assert a.city == "宁波" and a.industry == "制造" and a.title == "经理"  # non-empty wins
    assert a.field_sources["city"]["merged_from"] == b.pk
    assert set(Order.objects.filter(customer=a).values_list("number", flat=True)) == {
        "SO-A1",
        "SO-B1",
        "SO-B2",
    }
    assert set(a.tags.values_list("name", flat=True)) == {"VIP", "展会"}
    assert set(a.contact_points.values_list("normalized", flat=True)) == {
        "+8613911110001", "+8613911110002", "lilei@example.com", "lilei@example.com.cn"}  # fmt: skip
    assert a.contact_points.filter(kind="phone", is_primary=True).count() == 1
    assert DuplicateCandidate.objects.get().status == "merged"
    assert Customer.objects.alive().filter(name="李雷").count() == 1

    # Companies merge too: the merged company's contacts move to the survivor.
    company_record = actions.merge_customers(company.pk, other_company.pk, actor=steward)
    assert Customer.objects.get(pk=contact.pk).company_id == company.pk

    actions.unmerge(company_record.pk, actor=steward)
    actions.unmerge(record.pk, actor=steward)
    assert _world(a, b, company, other_company, contact) == before
    actions_logged = list(
        AuditEntry.objects.filter(pk__gt=audit_before).order_by("pk").values_list("action", "object_id")
    )
    assert actions_logged == [
        ("merge", a.pk), ("merge", b.pk), ("merge", company.pk), ("merge", other_company.pk),
        ("unmerge", company.pk), ("unmerge", other_company.pk), ("unmerge", a.pk), ("unmerge", b.pk),
    ]  # fmt: skip


def test_steward_picks_override_the_rules_and_undo_twice_is_refused(org, steward):
    a = make_customer(org.rep_e1, name="韩梅梅", city="北京")
    b = make_customer(org.rep_e1, name="韓梅梅", city="天津")
    record = actions.merge_customers(
        a.pk, b.pk, actor=steward, field_choices={"city": "merged", "name": "survivor"}
    )
    a.refresh_from_db()
    assert (a.name, a.city) == ("韩梅梅", "天津")
    actions.unmerge(record.pk, actor=steward)
    with pytest.raises(ValidationError):
        actions.unmerge(record.pk, actor=steward)
    with pytest.raises(ValidationError):
        actions.merge_customers(a.pk, b.pk, actor=steward, field_choices={"owner_id": "merged"})


def test_undo_order_is_enforced(org, steward):
    a, b, c = (make_customer(org.rep_e1, name=n) for n in ("甲一", "甲二", "甲三"))
    first = actions.merge_customers(a.pk, b.pk, actor=steward)
    actions.merge_customers(a.pk, c.pk, actor=steward)
    with pytest.raises(ValidationError):
        actions.unmerge(first.pk, actor=steward)


def test_merge_needs_the_permission_and_both_records_in_scope(org, steward):
    a = make_customer(org.rep_e1, name="权限一", phone="13911112221", tags=["VIP"])
    b = make_customer(org.rep_s1, name="权限二", phone="13911112222", tags=["展会"])
    # East may merge but sees only its own department: b (South) is out of its scope.
    east_steward = make_user(
        "east_steward",
        role=Role.objects.create(
            code="east_steward",
            name="East steward",
            data_scope=DataScope.DEPARTMENT,
            permissions=[Perm.CUSTOMER_VIEW, Perm.CUSTOMER_MERGE],
        ),
        department=org.east,
    )
    before = _world(a, b)
    audit_before = AuditEntry.objects.count()

    with pytest.raises(PermissionDenied):
        actions.merge_customers(a.pk, b.pk, actor=org.manager_e)  # may not merge at all
    with pytest.raises(NotFound):
        actions.merge_customers(a.pk, b.pk, actor=east_steward)  # may merge, but not b

    # a denied merge changed nothing: rows, tags, contact points, log
    assert _world(a, b) == before
    assert not MergeRecord.objects.exists()
    assert AuditEntry.objects.count() == audit_before
    # the same merge by someone who may do it goes through (the refusals above were the rule)
    actions.merge_customers(a.pk, b.pk, actor=steward)
    assert Customer.objects.get(pk=b.pk).merged_into_id == a.pk
