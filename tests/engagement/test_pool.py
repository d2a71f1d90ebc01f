"""Public pool (公海): membership by department tree, race-free claiming with limits and cooldowns,
release, the set-based reclaim sweep with warnings (fake clock), the worker task and the pages."""

from __future__ import annotations

import datetime as dt
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from guanxi.core.exceptions import NotFound
from guanxi.core.models import AuditEntry, Event, User
from guanxi.customers import actions as customer_actions
from guanxi.customers.models import Customer
from guanxi.engagement.actions import pool as pool_actions
from guanxi.engagement.actions import reclaim
from guanxi.engagement.actions.pool import ClaimRefused, RefusalCode, ReleaseRefused
from guanxi.engagement.models import OwnershipChange, OwnershipReason, Pool
from guanxi.messaging.models import Notification
from guanxi.sales.models import Order, OrderStatus
from tests.factories import build_org, make_user

# A fixed, future start so that every fake-clock instant is after the rows' real created_at.
T0 = dt.datetime(2030, 3, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
DAY = dt.timedelta(days=1)


def day(n: float) -> dt.datetime:
    return T0 + n * DAY


def new_customer(owner=None, name="客户", *, pool=None, **fields) -> Customer:
    """A customer through the real action, then the engagement fields set directly (test setup)."""
    customer = customer_actions.create_customer(
        {"name": name, "owner_id": owner.pk if owner else None}, actor=None, confirm_duplicate=True
    )
    fields.setdefault("owned_since", T0 if owner else None)
    Customer.objects.filter(pk=customer.pk).update(pool=pool, **fields)
    customer.refresh_from_db()
    return customer


def make_pools(org, **east):
    east_pool = Pool.objects.create(
        name="华东公海",
        **{"no_follow_up_days": 30, "warn_days": 3, "claim_limit": 4, "cooldown_days": 7, **east},
    )
    east_pool.departments.add(org.east)
    default = Pool.objects.create(name="公共公海", is_default=True, no_follow_up_days=30, warn_days=3)
    return east_pool, default


def lock_org_customers(org) -> None:
    """Keep build_org's customers (created years before T0) out of a test's reclaim counts."""
    Customer.objects.filter(pk__in=[c.pk for c in org.customers.values()]).update(locked=True)


def owners(ids) -> dict[int, int | None]:
    return dict(Customer.objects.filter(pk__in=ids).values_list("pk", "owner_id"))


# --------------------------------------------------------------------------- membership


@pytest.mark.django_db
def test_pool_for_walks_up_the_department_tree_else_the_default_pool(org):
    east_pool, default = make_pools(org)
    sales_pool = Pool.objects.create(name="销售部公海")
    sales_pool.departments.add(org.sales)
    assert pool_actions.pool_for(org.rep_e1) == east_pool  # own department
    assert pool_actions.pool_for(org.rep_s1) == sales_pool  # South → parent Sales
    assert pool_actions.pool_for(org.director) == sales_pool
    assert pool_actions.pool_for(org.marketing) == default  # HQ: no pool on the path
    assert pool_actions.pool_for(org.customers["c_e1"]) == east_pool  # a customer: its owner's pool
    assert pool_actions.pool_for(org.customers["c_pool"]) == default  # no owner
    # Claimable: pools on the path (East and Sales for an East rep), the rep's own pool, and pools
    # without member departments (open to everybody: here the default pool).
    assert {p.name for p in pool_actions.claimable_pools(org.rep_e1)} == {
        "华东公海",
        "销售部公海",
        "公共公海",
    }
    assert {p.name for p in pool_actions.claimable_pools(org.rep_s1)} == {"销售部公海", "公共公海"}
    assert {p.name for p in pool_actions.claimable_pools(org.marketing)} == {"公共公海"}
    east_only = Pool.objects.create(name="华东专属")
    east_only.departments.add(org.east)
    default.departments.add(org.hq)  # a default pool with members is not open to all any more
    assert {p.name for p in pool_actions.claimable_pools(org.rep_s1)} == {"销售部公海", "公共公海"}  # via HQ
    assert {p.name for p in pool_actions.claimable_pools(org.rep_e1)} == {
        "华东公海",
        "华东专属",
        "销售部公海",
        "公共公海",
    }


# --------------------------------------------------------------------------- claim race


@pytest.fixture
def race_org(transactional_db, roles, queue):
    org = build_org(roles)
    org.rep_e3 = make_user("rep_e3", role=roles["sales_rep"], department=org.east, manager=org.manager_e)
    pool = Pool.objects.create(name="华东公海", claim_limit=4)
    pool.departments.add(org.east)
    org.pool = pool
    org.pool_ids = [new_customer(None, f"公海客户{i}", pool=pool).pk for i in range(10)]
    return org


def _in_threads(n: int, fn) -> list:
    """fn(i) in n threads started together; each thread has (and closes) its own DB connection."""
    barrier = threading.Barrier(n)

    def run(i: int):
        try:
            barrier.wait(timeout=60)
            return fn(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as executor:
        futures = [executor.submit(run, i) for i in range(n)]
        return [f.result(timeout=300) for f in futures]  # an unexpected exception fails the test here


@pytest.mark.django_db(transaction=True)
def test_fifty_threads_claiming_ten_customers_give_exactly_ten_claims_within_limits(race_org):
    org = race_org
    reps = [org.rep_e1.pk, org.rep_e2.pk, org.rep_e3.pk]  # 3 reps, limit 4 each: 12 >= 10

    def attempt(i: int) -> list[tuple[str, int, int]]:
        rep = User.objects.select_related("role").get(pk=reps[i % len(reps)])
        order = org.pool_ids[:]
        random.Random(i).shuffle(order)
        outcomes = []
        for customer_id in order:
            try:
                pool_actions.claim(customer_id, actor=rep)
                outcomes.append(("won", rep.pk, customer_id))
            except ClaimRefused as exc:  # anything else propagates and fails the test
                assert exc.message
                outcomes.append((exc.code, rep.pk, customer_id))
        return outcomes

    outcomes = [o for thread in _in_threads(50, attempt) for o in thread]
    assert len(outcomes) == 500
    wins = [(rep, cid) for code, rep, cid in outcomes if code == "won"]
    assert len(wins) == 10
    assert sorted(cid for _rep, cid in wins) == sorted(org.pool_ids)  # each customer won once
    assert {code for code, *_ in outcomes} <= {"won", RefusalCode.TAKEN, RefusalCode.LIMIT}
    final = owners(org.pool_ids)
    assert final == {cid: rep for rep, cid in wins}  # the winner is the one owner
    per_rep = {rep: sum(1 for r, _c in wins if r == rep) for rep in reps}
    assert max(per_rep.values()) <= 4
    assert Customer.objects.filter(pk__in=org.pool_ids, pool__isnull=False).count() == 0
    changes = OwnershipChange.objects.filter(reason=OwnershipReason.CLAIMED)
    assert sorted(changes.values_list("customer_id", "to_user_id")) == sorted((c, r) for r, c in wins)
    assert Event.objects.filter(name="customer.assigned", payload__reason="claimed").count() == 10


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_through_the_page_never_leak_an_error(race_org):
    org = race_org
    target = org.pool_ids[0]
    clients = []
    for i in range(12):
        client = Client()
        client.force_login([org.rep_e1, org.rep_e2, org.rep_e3][i % 3])
        clients.append(client)

    def post(i: int):
        response = clients[i].post(reverse("pool:claim", args=[target]), headers={"HX-Request": "true"})
        return response.status_code, response.content.decode()

    results = _in_threads(12, post)
    assert {status for status, _body in results} == {200}
    assert sum("pool-row-claimed" in body for _s, body in results) == 1
    assert sum("pool-row-refused" in body for _s, body in results) == 11
    assert Customer.objects.get(pk=target).owner_id in {org.rep_e1.pk, org.rep_e2.pk, org.rep_e3.pk}
    assert OwnershipChange.objects.filter(customer_id=target).count() == 1


# --------------------------------------------------------------------------- claim rules


@pytest.mark.django_db
def test_claim_sets_one_owner_and_writes_history_audit_and_event(org):
    east_pool, _default = make_pools(org)
    c = new_customer(None, "待领取", pool=east_pool)
    claimed = pool_actions.claim(c.pk, actor=org.rep_e1, now=day(0))
    assert claimed.owner == org.rep_e1
    c.refresh_from_db()
    assert (c.owner_id, c.pool_id, c.owned_since) == (org.rep_e1.pk, None, day(0))
    change = OwnershipChange.objects.get(customer=c)
    assert (change.reason, change.to_user_id, change.from_user_id, change.pool_id, change.actor_id) == (
        OwnershipReason.CLAIMED, org.rep_e1.pk, None, east_pool.pk, org.rep_e1.pk,
    )  # fmt: skip
    entry = AuditEntry.objects.filter(object_id=c.pk).latest("id")
    assert entry.before == {"owner_id": None, "pool_id": east_pool.pk}
    assert entry.after == {"owner_id": org.rep_e1.pk, "pool_id": None}
    # One customer.assigned event per owner change (it was "customer.claimed" before issue 9).
    event = Event.objects.get(name="customer.assigned", object_id=c.pk)
    assert event.payload == {
        "from_owner_id": None, "to_owner_id": org.rep_e1.pk, "reason": "claimed", "pool_id": east_pool.pk,
    }  # fmt: skip
    with pytest.raises(ClaimRefused) as exc:
        pool_actions.claim(c.pk, actor=org.rep_e2, now=day(0))
    assert exc.value.code == RefusalCode.TAKEN
    assert OwnershipChange.objects.filter(customer=c).count() == 1


@pytest.mark.django_db
def test_only_members_claim_and_unpooled_unowned_customers_are_in_the_default_pool(org):
    east_pool, default = make_pools(org)
    c = new_customer(None, "华东池客户", pool=east_pool)
    with pytest.raises(ClaimRefused) as exc:
        pool_actions.claim(c.pk, actor=org.rep_s1)  # South is not a member of the East pool
    assert exc.value.code == RefusalCode.NOT_AVAILABLE
    assert Customer.objects.get(pk=c.pk).owner_id is None
    unpooled = org.customers["c_pool"]  # no owner, no pool: the default pool
    pool_actions.claim(unpooled.pk, actor=org.rep_s1)
    assert OwnershipChange.objects.get(customer=unpooled).pool == default
    with pytest.raises(ClaimRefused) as exc:
        pool_actions.claim(org.customers["c_e2"].pk, actor=org.rep_e1)  # owned by someone
    assert exc.value.code == RefusalCode.TAKEN


@pytest.mark.django_db
def test_the_claim_limit_counts_claims_in_a_rolling_24_hours_per_pool(org):
    east_pool, _default = make_pools(org, claim_limit=2)
    ids = [new_customer(None, f"限额{i}", pool=east_pool).pk for i in range(4)]
    pool_actions.claim(ids[0], actor=org.rep_e1, now=day(0))
    pool_actions.claim(ids[1], actor=org.rep_e1, now=day(0.5))
    with pytest.raises(ClaimRefused) as exc:
        pool_actions.claim(ids[2], actor=org.rep_e1, now=day(0.9))
    assert exc.value.code == RefusalCode.LIMIT and "2" in exc.value.message
    pool_actions.claim(ids[2], actor=org.rep_e2, now=day(0.9))  # another rep has their own count
    pool_actions.claim(ids[3], actor=org.rep_e1, now=day(1) + dt.timedelta(seconds=1))  # first one aged out
    assert owners(ids) == {ids[0]: org.rep_e1.pk, ids[1]: org.rep_e1.pk, ids[2]: org.rep_e2.pk,
                           ids[3]: org.rep_e1.pk}  # fmt: skip


# --------------------------------------------------------------------------- the reclaim sweep


@pytest.mark.django_db(transaction=True)
def test_reclaim_sweep_with_a_fake_clock(org, worker):
    east_pool, default = make_pools(org)  # 30 days without follow-up, warned 3 days before
    due = new_customer(org.rep_e1, "到期客户", last_follow_up_at=T0)
    locked = new_customer(org.rep_e1, "锁定客户", last_follow_up_at=T0, locked=True)
    recent = new_customer(org.rep_e2, "近期跟进", last_follow_up_at=day(10))
    south = new_customer(org.rep_s1, "华南客户", last_follow_up_at=T0)  # South: the default pool
    deleted = new_customer(org.rep_e1, "已删除", last_follow_up_at=T0, deleted_at=T0)
    other = [c.pk for c in org.customers.values()]  # created now (before T0) and owned_since NULL
    Customer.objects.filter(pk__in=other).update(last_follow_up_at=day(20))

    warnings = Notification.objects.filter(kind="pool.warning")

    # Day N-4: nothing due, nothing to warn about.
    stats = reclaim.reclaim_sweep(now=day(26))
    assert stats["reclaimed"] == 0 and stats["warnings_sent"] == 0
    assert not warnings.exists()

    # Day N-3: one warning per owner with customers due within 3 days; a second run sends nothing.
    with worker():  # the warnings are sent by messaging's subscriber in the worker
        stats = reclaim.reclaim_sweep(now=day(27))
    assert stats["reclaimed"] == 0 and stats["warnings_sent"] == 2
    assert sorted(warnings.values_list("recipient__username", flat=True)) == ["rep_e1", "rep_s1"]
    note = warnings.get(recipient=org.rep_e1)
    assert "到期客户" in note.body and "锁定客户" not in note.body and "已删除" not in note.body
    assert note.url == reverse("pool:at_risk")
    assert reclaim.reclaim_sweep(now=day(27))["warnings_sent"] == 0
    assert reclaim.reclaim_sweep(now=day(27) + dt.timedelta(hours=5))["warnings_sent"] == 0  # same day
    assert warnings.count() == 2

    # Day N: due customers return to their owner's pool; exempt and recent ones stay.
    stats = reclaim.reclaim_sweep(now=day(30), chunk=2)  # tiny chunks: several id ranges
    assert stats["reclaimed"] == 2 and stats["by_rule"]["no_follow_up"] == 2
    assert stats["by_pool"] == {str(east_pool.pk): 1, str(default.pk): 1}
    rows = {c.pk: (c.owner_id, c.pool_id, c.owned_since) for c in Customer.objects.all()}
    assert rows[due.pk] == (None, east_pool.pk, None)
    assert rows[south.pk] == (None, default.pk, None)
    assert rows[locked.pk][:2] == (org.rep_e1.pk, None)
    assert rows[recent.pk][:2] == (org.rep_e2.pk, None)
    assert rows[deleted.pk][:2] == (org.rep_e1.pk, None)
    assert all(rows[pk][0] is not None or pk == org.customers["c_pool"].pk for pk in other)
    changes = OwnershipChange.objects.filter(reason=OwnershipReason.RECLAIMED)
    assert sorted(
        changes.values_list("customer_id", "from_user_id", "to_user_id", "pool_id", "at")
    ) == sorted(
        [
            (due.pk, org.rep_e1.pk, None, east_pool.pk, day(30)),
            (south.pk, org.rep_s1.pk, None, default.pk, day(30)),
        ]
    )
    audits = AuditEntry.objects.filter(
        object_id__in=[due.pk, south.pk], actor_label="system", action="update"
    )
    assert {(a.object_id, a.before["owner_id"], a.after["pool_id"]) for a in audits} == {
        (due.pk, org.rep_e1.pk, east_pool.pk), (south.pk, org.rep_s1.pk, default.pk),
    }  # fmt: skip
    assert Event.objects.filter(name="pool.reclaimed").count() == 2

    # The same sweep again: nothing changes.
    counts = (
        OwnershipChange.objects.count(),
        AuditEntry.objects.count(),
        Event.objects.count(),
        warnings.count(),
    )
    again = reclaim.reclaim_sweep(now=day(30))
    assert again["reclaimed"] == 0 and again["warnings_sent"] == 0
    assert (
        OwnershipChange.objects.count(),
        AuditEntry.objects.count(),
        Event.objects.count(),
        warnings.count(),
    ) == (counts)

    # Cooldown: the previous owner may not claim it back for 7 days; another rep may.
    with pytest.raises(ClaimRefused) as exc:
        pool_actions.claim(due.pk, actor=org.rep_e1, now=day(31))
    assert exc.value.code == RefusalCode.COOLDOWN and exc.value.details["until"] == day(37)
    pool_actions.claim(due.pk, actor=org.rep_e2, now=day(31))
    # Claiming restarts the clock even though the last follow-up is 31 days old.
    assert reclaim.reclaim_sweep(now=day(32))["reclaimed"] == 0
    assert Customer.objects.get(pk=due.pk).owner_id == org.rep_e2.pk
    assert reclaim.reclaim_sweep(now=day(61))["reclaimed"] >= 1
    assert Customer.objects.get(pk=due.pk).owner_id is None


@pytest.mark.django_db
def test_cooldown_ends_after_the_configured_days(org):
    east_pool, _default = make_pools(org)
    c = new_customer(org.rep_e1, "冷却", last_follow_up_at=T0)
    reclaim.reclaim_sweep(now=day(30))
    with pytest.raises(ClaimRefused):
        pool_actions.claim(c.pk, actor=org.rep_e1, now=day(36.9))
    pool_actions.claim(c.pk, actor=org.rep_e1, now=day(37))


@pytest.mark.django_db
def test_days_per_tier_override_the_pool_period(org):
    east_pool, _default = make_pools(org, days_by_tier={"A": 60, "C": 15, "Z": 1, "B": "x"})
    lock_org_customers(org)
    a = new_customer(org.rep_e1, "A级", tier="A", last_follow_up_at=T0)
    b = new_customer(org.rep_e1, "B级", tier="B", last_follow_up_at=T0)
    c = new_customer(org.rep_e1, "C级", tier="C", last_follow_up_at=T0)
    assert reclaim.reclaim_sweep(now=day(14.9))["reclaimed"] == 0
    assert reclaim.reclaim_sweep(now=day(15))["reclaimed"] == 1
    assert owners([a.pk, b.pk, c.pk]) == {a.pk: org.rep_e1.pk, b.pk: org.rep_e1.pk, c.pk: None}
    assert reclaim.reclaim_sweep(now=day(30))["reclaimed"] == 1  # B: the pool's 30 days
    assert reclaim.reclaim_sweep(now=day(59))["reclaimed"] == 0
    assert reclaim.reclaim_sweep(now=day(60))["reclaimed"] == 1
    assert owners([a.pk]) == {a.pk: None}


@pytest.mark.django_db
def test_no_deal_rule_reclaims_customers_without_a_paid_order(org):
    east_pool, _default = make_pools(org, no_follow_up_days=0, no_deal_days=60)
    lock_org_customers(org)
    buyer = new_customer(org.rep_e1, "成交客户")
    idle = new_customer(org.rep_e1, "未成交客户")
    Order.objects.create(
        customer=buyer, number="SO-1", ordered_at=day(50), amount="99.00", status=OrderStatus.PAID
    )
    Order.objects.create(
        customer=idle, number="SO-2", ordered_at=day(55), amount="99.00", status=OrderStatus.REFUNDED
    )
    stats = reclaim.reclaim_sweep(now=day(60))
    assert stats["by_rule"] == {"no_follow_up": 0, "no_deal": 1}
    assert owners([buyer.pk, idle.pk]) == {buyer.pk: org.rep_e1.pk, idle.pk: None}
    assert reclaim.reclaim_sweep(now=day(109))["reclaimed"] == 0
    assert reclaim.reclaim_sweep(now=day(110))["reclaimed"] == 1  # 60 days after the order


@pytest.mark.django_db
def test_an_open_deal_keeps_a_customer_out_of_every_sweep_and_a_recent_win_counts_as_a_deal(org):
    from guanxi.sales import actions as sales_actions

    sales_actions.ensure_default_pipeline()
    east_pool, _default = make_pools(org, no_follow_up_days=30, no_deal_days=60)
    lock_org_customers(org)
    kept = new_customer(org.rep_e1, "有商机", last_follow_up_at=T0)
    gone = new_customer(org.rep_e1, "无商机", last_follow_up_at=T0)
    sales_actions.create_deal(kept.pk, {"name": "年度采购"}, actor=org.rep_e1)
    stats = reclaim.reclaim_sweep(now=day(30))
    assert stats["reclaimed"] == 1
    assert owners([kept.pk, gone.pk]) == {kept.pk: org.rep_e1.pk, gone.pk: None}

    # Won: no longer open, but a recent win is a deal for the "no deal for 60 days" rule.
    now = timezone.now()
    winner = new_customer(
        org.rep_e1, "刚赢单", last_follow_up_at=now, owned_since=now - dt.timedelta(days=100)
    )
    idle = new_customer(org.rep_e1, "没成交", last_follow_up_at=now, owned_since=now - dt.timedelta(days=100))
    win = sales_actions.create_deal(winner.pk, {"name": "首单"}, actor=org.rep_e1)
    sales_actions.move_deal(win.pk, win.pipeline.stages.get(outcome="won").pk, actor=org.rep_e1)
    stats = reclaim.reclaim_sweep(now=now + dt.timedelta(hours=1))
    assert stats["by_rule"]["no_deal"] == 1
    assert owners([winner.pk, idle.pk]) == {winner.pk: org.rep_e1.pk, idle.pk: None}


@pytest.mark.django_db
def test_sweep_with_no_pools_or_no_customers_does_nothing(org):
    new_customer(org.rep_e1, "无池", last_follow_up_at=T0)
    assert reclaim.reclaim_sweep(now=day(100))["reclaimed"] == 0
    Customer.objects.all().delete()
    make_pools(org)
    assert reclaim.reclaim_sweep(now=day(100))["reclaimed"] == 0


# --------------------------------------------------------------------------- release


@pytest.mark.django_db
def test_release_returns_the_customer_to_the_owners_pool(org):
    east_pool, _default = make_pools(org)
    c = org.customers["c_e1"]
    with pytest.raises(NotFound):
        pool_actions.release(c.pk, actor=org.rep_e2, reason="")  # outside rep_e2's data scope
    released = pool_actions.release(c.pk, actor=org.rep_e1, reason="  不感兴趣  ")
    assert released.pool == east_pool
    c.refresh_from_db()
    assert (c.owner_id, c.pool_id, c.owned_since) == (None, east_pool.pk, None)
    change = OwnershipChange.objects.get(customer=c)
    assert (change.reason, change.from_user_id, change.actor_id) == (
        OwnershipReason.RELEASED,
        org.rep_e1.pk,
        org.rep_e1.pk,
    )
    assert AuditEntry.objects.filter(object_id=c.pk).latest("id").after["release_reason"] == "不感兴趣"
    # One customer.assigned event per owner change (it was "customer.released" before issue 9); the
    # release reason the rep typed is in the audit entry above.
    event = Event.objects.get(name="customer.assigned", object_id=c.pk)
    assert event.payload == {
        "from_owner_id": org.rep_e1.pk, "to_owner_id": None, "reason": "released", "pool_id": east_pool.pk,
    }  # fmt: skip
    with pytest.raises(ClaimRefused) as exc:
        pool_actions.claim(c.pk, actor=org.rep_e1)
    assert exc.value.code == RefusalCode.COOLDOWN
    with pytest.raises(ReleaseRefused):
        pool_actions.release(c.pk, actor=org.admin, reason="")  # no owner any more


@pytest.mark.django_db
def test_release_by_others_needs_the_assign_permission(org):
    make_pools(org)
    c2 = org.customers["c_e2"]
    with pytest.raises(PermissionDenied):
        pool_actions.release(c2.pk, actor=org.viewer_e, reason="")  # sees it (department), may not assign
    pool_actions.release(c2.pk, actor=org.manager_e, reason="")  # rep_e2's manager
    assert OwnershipChange.objects.get(customer=c2).from_user_id == org.rep_e2.pk


@pytest.mark.django_db
def test_release_without_any_pool_is_refused(org):
    with pytest.raises(ReleaseRefused) as exc:
        pool_actions.release(org.customers["c_e1"].pk, actor=org.rep_e1, reason="")
    assert exc.value.code == RefusalCode.NO_POOL
    assert Customer.objects.get(pk=org.customers["c_e1"].pk).owner_id == org.rep_e1.pk


# --------------------------------------------------------------------------- worker task


@pytest.mark.django_db
def test_the_hourly_task_runs_the_sweep_under_a_lock(org, queue):
    from huey.exceptions import TaskLockedException

    from guanxi.engagement import tasks_pool

    make_pools(org)
    assert tasks_pool.reclaim_hourly.call_local()["reclaimed"] == 0
    with queue.lock_task("engagement-pool-reclaim"), pytest.raises(TaskLockedException):
        tasks_pool.reclaim_hourly.call_local()
    assert any(t.name.endswith("reclaim_hourly") for t in queue._registry.periodic_tasks)


# --------------------------------------------------------------------------- pages


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_pool_page_lists_the_users_pools_and_searches(org):
    east_pool, _default = make_pools(org)
    new_customer(None, "张三丰", pool=east_pool)
    new_customer(None, "李四光", pool=east_pool)
    page = _client(org.rep_e1).get(reverse("pool:index")).content.decode()
    assert "张三丰" in page and "李四光" in page and "客户庚" not in page  # own pool shown first
    assert "公共公海" in page  # the default pool (no member departments) is open to all: a tab
    found = (
        _client(org.rep_e1).get(reverse("pool:index"), {"pool": east_pool.pk, "q": "zhang"}).content.decode()
    )
    assert "张三丰" in found and "李四光" not in found
    south = _client(org.rep_s1).get(reverse("pool:index"), {"pool": east_pool.pk}).content.decode()
    assert "张三丰" not in south and "客户庚" in south  # falls back to their own pool (default)


@pytest.mark.django_db
def test_pool_page_query_count_does_not_grow_with_rows(org):
    east_pool, _default = make_pools(org)
    client = _client(org.rep_e1)
    new_customer(None, "一号", pool=east_pool)
    client.get(reverse("pool:index"))  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("pool:index")).status_code == 200
    for i in range(20):
        new_customer(None, f"批量{i}号", pool=east_pool)
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse("pool:index")).status_code == 200
    assert len(many) == len(few) <= 15


@pytest.mark.django_db
def test_claim_button_swaps_the_row_and_refusals_are_messages(org):
    east_pool, _default = make_pools(org)
    c = new_customer(None, "抢手客户", pool=east_pool)
    url = reverse("pool:claim", args=[c.pk])
    response = _client(org.rep_e1).post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="pool-row-{c.pk}"' in body and "pool-row-claimed" in body and "抢手客户" in body
    response = _client(org.rep_e2).post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "pool-row-refused" in response.content.decode()
    # Without htmx: a redirect and the refusal as a flash message.
    response = _client(org.rep_e2).post(url, {"next": reverse("pool:index")}, follow=True)
    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert _client(org.rep_e2).post(url, {"next": "https://evil.example/"}).url == reverse("pool:index")
    assert _client(org.rep_e1).get(url).status_code == 405


@pytest.mark.django_db
def test_at_risk_page_and_release_button(org):
    east_pool, _default = make_pools(org)
    now = dt.datetime.now(tz=dt.UTC)
    soon = new_customer(
        org.rep_e1, "快到期", last_follow_up_at=now - dt.timedelta(days=28), owned_since=now - DAY * 40
    )
    new_customer(org.rep_e1, "还早", last_follow_up_at=now - dt.timedelta(days=5))
    _pool, rows = reclaim.customers_at_risk(org.rep_e1, now=now)
    assert [r.customer.name for r in rows] == ["快到期"]
    assert abs(rows[0].due_at - (now + 2 * DAY)) < dt.timedelta(seconds=1) and rows[0].rule == "no_follow_up"
    client = _client(org.rep_e1)
    page = client.get(reverse("pool:at_risk")).content.decode()
    assert "快到期" in page and "还早" not in page and reverse("pool:release", args=[soon.pk]) in page
    response = client.post(reverse("pool:release", args=[soon.pk]), {"reason": "无意向"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("pool:at_risk")
    assert [m.level_tag for m in response.context["messages"]] == ["success"]
    assert Customer.objects.get(pk=soon.pk).pool_id == east_pool.pk
    assert client.post(reverse("pool:release", args=[org.customers["c_e2"].pk])).status_code == 404
    too_long = client.post(
        reverse("pool:release", args=[org.customers["c_e1"].pk]), {"reason": "长" * 201}, follow=True
    )
    assert [m.level_tag for m in too_long.context["messages"]] == ["error"]
    assert Customer.objects.get(pk=org.customers["c_e1"].pk).owner_id == org.rep_e1.pk


def test_default_pool_is_created_once_and_open_to_everyone(org):
    from guanxi.engagement.actions.pool import claimable_pools, ensure_default_pool

    Pool.objects.all().delete()
    first = ensure_default_pool()
    assert ensure_default_pool().pk == first.pk and Pool.objects.count() == 1
    assert first in claimable_pools(org.rep_s1) and first in claimable_pools(org.rep_e1)
