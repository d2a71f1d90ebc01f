"""Demo data: organisation through the actions, realistic customers written in bulk, idempotent org."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from guanxi import text as normalize
from guanxi.core.models import AuditEntry, Department, User
from guanxi.customers.actions import display_contact, normalize_contact
from guanxi.customers.models import Channel, ContactKind, ContactPoint, Customer, CustomerKind
from guanxi.customers.quality import recompute_completeness
from guanxi.demo import DEMO_USERS, load_demo
from guanxi.sales.models import Order

PASSWORD = "demo-pass-123"


@pytest.fixture
def loaded(db):
    return load_demo(customers=300, password=PASSWORD)


def test_org_is_created_through_the_actions(loaded):
    users = {u.username: u for u in User.objects.select_related("role", "department", "manager")}
    assert len(users) >= 10
    assert sorted(loaded["users"]) == sorted(d.username for d in DEMO_USERS)
    assert loaded["password"] == PASSWORD
    assert all(users[d.username].check_password(PASSWORD) for d in DEMO_USERS)
    roles = Counter(u.role.code for u in users.values())
    assert roles["sales_director"] == 1 and roles["sales_manager"] == 3 and roles["sales_rep"] >= 6
    assert roles["service_agent"] == 2 and roles["marketing"] == 1

    sales = Department.objects.get(name="销售部", parent=None)
    groups = Department.objects.filter(parent=sales)
    assert {g.name for g in groups} == {"华东销售组", "华南销售组", "华北销售组"}
    assert all(g.path.startswith(sales.path) and g.depth == 1 for g in groups)
    assert {"总经办", "客服部", "市场部"} <= set(
        Department.objects.filter(parent=None).values_list("name", flat=True)
    )

    director = users["zhao.jianguo"]
    assert director.department == sales
    for user in users.values():
        if user.role.code == "sales_manager":
            assert user.manager == director and user.department.parent == sales
        if user.role.code == "sales_rep":
            assert user.manager.role.code == "sales_manager" and user.department == user.manager.department
    # Audited like any other organisation change.
    assert AuditEntry.objects.filter(object_repr="赵建国", action="create").exists()


def test_customers_contact_points_and_orders_are_realistic(loaded):
    assert Customer.objects.count() == loaded["customers"] == 300
    assert ContactPoint.objects.count() == loaded["contact_points"]
    assert Order.objects.count() == loaded["orders"] > 0
    connection.check_constraints()

    customers = list(Customer.objects.all())
    kinds = Counter(c.kind for c in customers)
    assert 0.05 < kinds[CustomerKind.COMPANY] / 300 < 0.3
    assert any(c.company_id for c in customers)  # persons linked to their company
    assert len({c.source for c in customers}) >= 6
    assert len({c.lifecycle_stage for c in customers}) >= 4
    assert len({c.city for c in customers}) >= 10
    owned = [c for c in customers if c.owner_id]
    assert 0.85 * 300 < len(owned) < 300  # a few in the public pool
    assert Customer.tags.through.objects.exists()
    for customer in customers:
        person = customer.kind == CustomerKind.PERSON
        assert (customer.name_pinyin, customer.name_initials) == normalize.search_keys(
            customer.name, person=person
        )
        assert customer.created_at.tzinfo is not None

    points = list(ContactPoint.objects.all())
    for point in points:
        assert normalize_contact(point.kind, point.value) == point.normalized, point
        assert display_contact(point.kind, point.normalized) == point.value, point
    phones = [p for p in points if p.kind == ContactKind.PHONE]
    assert all(normalize.normalize_phone(p.value) == p.normalized for p in phones)
    mobiles = {p.customer_id for p in phones if normalize.is_cn_mobile(p.normalized)}
    assert {c.pk for c in customers if c.kind == CustomerKind.PERSON} <= mobiles
    kinds_of_points = Counter(p.kind for p in points)
    assert kinds_of_points[ContactKind.EMAIL] > 30
    assert kinds_of_points[ContactKind.WECHAT_OPENID] + kinds_of_points[ContactKind.WECHAT_ID] > 60
    assert len({p.source for p in points}) >= 5

    # The stored completeness is what the quality sweep computes.
    assert recompute_completeness(0, max(c.pk for c in customers) + 1) == 0

    now = timezone.now()
    two_years_ago = now - dt.timedelta(days=731)
    orders = list(Order.objects.all())
    assert all(two_years_ago <= o.ordered_at <= now for o in orders)
    assert all(two_years_ago <= c.created_at <= now for c in customers)
    assert len({o.number for o in orders}) == len(orders)
    assert all(o.amount > 0 and o.currency == "CNY" for o in orders)
    statuses = Counter(o.status for o in orders)
    assert statuses["paid"] > 0.8 * len(orders)
    assert {o.channel for o in orders} <= set(Channel.values)


def test_deliberate_duplicates_exist(loaded):
    shared = (
        ContactPoint.objects.filter(kind=ContactKind.PHONE)
        .values("normalized")
        .annotate(n=Count("customer", distinct=True))
        .filter(n__gt=1)
    )
    assert shared.exists()
    for row in shared:
        copies = Customer.objects.filter(
            contact_points__kind=ContactKind.PHONE, contact_points__normalized=row["normalized"]
        )
        # Entered again through another channel, by another salesperson.
        assert len({c.source for c in copies}) > 1
    names = [c.name for c in Customer.objects.all()]
    assert any(normalize.strip_person_titles(n) != n or normalize.to_simplified(n) != n for n in names)


def test_running_twice_reuses_the_org_and_adds_customers(loaded):
    users_before = User.objects.count()
    departments_before = Department.objects.count()
    again = load_demo(customers=50)
    assert again["password"] is None  # nobody was created, no password changed
    assert User.objects.count() == users_before
    assert Department.objects.count() == departments_before
    assert Customer.objects.count() == 350
    assert User.objects.get(username="wang.fang").check_password(PASSWORD)
    connection.check_constraints()


@pytest.mark.django_db(transaction=True)
def test_bulk_path_commits_chunks_and_moves_the_sequences():
    """Outside a transaction the writer thread commits chunk by chunk; ids stay usable afterwards."""
    result = load_demo(customers=250, chunk_size=60, seed=7, password=PASSWORD)
    assert Customer.objects.count() == result["customers"] == 250
    assert ContactPoint.objects.count() == result["contact_points"]
    assert Order.objects.count() == result["orders"]
    highest = Customer.objects.order_by("-pk").values_list("pk", flat=True).first()
    fresh = Customer.objects.create(name="新客户")
    assert fresh.pk > highest
    ContactPoint.objects.create(
        customer=fresh, kind=ContactKind.PHONE, value="138 0000 0000", normalized="+8613800000000"
    )
    Order.objects.create(customer=fresh, number="MANUAL-1", ordered_at=timezone.now(), amount="1.00")


def test_same_seed_gives_the_same_customers(db):
    now = timezone.now()
    first = load_demo(customers=40, seed=3, now=now)
    names = list(Customer.objects.order_by("pk").values_list("name", "city", "lifecycle_stage"))
    Customer.objects.all().delete()
    second = load_demo(customers=40, seed=3, now=now)
    assert first["customers"] == second["customers"] == 40
    assert list(Customer.objects.order_by("pk").values_list("name", "city", "lifecycle_stage")) == names


def test_management_command_prints_users_and_password(db):
    out = StringIO()
    call_command("demo", customers=20, password=PASSWORD, stdout=out)
    text = out.getvalue()
    assert "wang.fang" in text and PASSWORD in text
    assert Customer.objects.count() == 20


def test_guanxi_up_fills_the_duplicate_review_queue_after_loading_the_demo(db):
    """`guanxi up` on an empty database loads the demo, which plants duplicates: the review queue
    shows them right away instead of after the first nightly run."""
    from guanxi.customers.models import DuplicateCandidate, ReviewStatus

    out = StringIO()
    call_command("up", no_serve=True, demo_customers=300, stdout=out)
    pending = DuplicateCandidate.objects.filter(status=ReviewStatus.OPEN)
    assert pending.exists()
    assert f"Duplicate review queue: {pending.count()} pairs to review." in out.getvalue()
    # the planted duplicates (a phone shared by two customers) are among the candidates
    shared_phone = (
        ContactPoint.objects.filter(kind=ContactKind.PHONE)
        .values("normalized")
        .annotate(n=Count("customer", distinct=True))
        .filter(n__gt=1)
        .values_list("normalized", flat=True)[:1]
    )
    pair = list(
        Customer.objects.filter(contact_points__normalized__in=shared_phone).values_list("pk", flat=True)
    )
    assert pending.filter(customer_a_id__in=pair, customer_b_id__in=pair).exists()
