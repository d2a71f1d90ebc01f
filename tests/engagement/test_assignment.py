"""Lead assignment (线索分配): rules, eligibility, strategies, first-response alerts, worker, pages.

Acceptance 4: 1,000 new leads with round robin and capacity are spread within ±1 of even among
eligible reps; reps off duty or over capacity get none; each gets exactly one owner.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import zoneinfo
from collections import Counter

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client

from guanxi.core.models import AuditEntry, Event
from guanxi.customers.models import Customer, LifecycleStage
from guanxi.engagement.actions import assignment, assignment_rules
from guanxi.engagement.models import (
    Assignment,
    AssignmentRule,
    AssignmentStrategy,
    OwnershipChange,
    OwnershipReason,
)
from guanxi.messaging.models import Notification
from tests.conftest import drain
from tests.factories import PASSWORD, make_customer, make_user

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
# A Wednesday, 10:00 in Shanghai (02:00 UTC).
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)
OFFICE_HOURS = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}
_seq = itertools.count(1)


def leads(n: int, **fields) -> list[int]:
    """Unowned new leads, bulk-created (the test is about assignment, not creation)."""
    fields.setdefault("lifecycle_stage", LifecycleStage.POTENTIAL)
    created = Customer.objects.bulk_create([Customer(name=f"线索{next(_seq)}", **fields) for _ in range(n)])
    return [c.pk for c in created]


def owned(owner, n: int, **fields) -> list[int]:
    return leads(n, owner=owner, **fields)


def make_rule(members, *, strategy=AssignmentStrategy.ROUND_ROBIN, position=0, **fields) -> AssignmentRule:
    rule = AssignmentRule.objects.create(
        name=f"rule{next(_seq)}", strategy=strategy, position=position, **fields
    )
    rule.members.set(members)
    return rule


def owners_of(ids) -> Counter:
    return Counter(Customer.objects.filter(pk__in=ids).values_list("owner_id", flat=True))


@pytest.fixture
def team(roles):
    """A manager and five reps in the sales_rep role."""
    manager = make_user("lead_manager", role=roles["sales_manager"])
    reps = [make_user(f"lead_rep{i}", role=roles["sales_rep"], manager=manager) for i in range(1, 6)]
    return manager, reps


# --------------------------------------------------------------------------- acceptance 4


@pytest.mark.django_db(transaction=True)
def test_a_thousand_leads_spread_evenly_among_eligible_reps(team, worker):
    manager, (away, off_duty, capped, rep4, rep5) = team
    away.away_until = NOW + dt.timedelta(days=2)
    off_duty.work_schedule = {"days": [0, 1, 2, 3, 4], "start": "13:00", "end": "18:00"}  # not at 10:00
    capped.lead_capacity = 100
    for rep in (away, off_duty, capped):
        rep.save()
    rule = make_rule([away, off_duty, capped, rep4, rep5])
    ids = leads(1000, source="website")

    with worker():  # the lead notifications are sent by messaging's subscriber in the worker
        result = assignment.assign_leads(ids, now=NOW)

    assert result["assigned"] == 1000 and result["not_assigned"] == 0
    counts = owners_of(ids)
    assert counts[away.pk] == 0 and counts[off_duty.pk] == 0  # off duty / away: none
    assert counts[capped.pk] == 100  # up to capacity, then none
    assert None not in counts  # every lead has an owner
    assert abs(counts[rep4.pk] - counts[rep5.pk]) <= 1 and counts[rep4.pk] + counts[rep5.pk] == 900
    # exactly one owner, one assignment, one ownership-history row and one audit entry per lead
    assignments = Assignment.objects.filter(customer_id__in=ids)
    assert assignments.count() == 1000 and assignments.values("customer_id").distinct().count() == 1000
    assert set(assignments.values_list("rule_id", flat=True)) == {rule.pk}
    assert {a.first_response_due_at for a in assignments} == {NOW + dt.timedelta(minutes=120)}
    changes = OwnershipChange.objects.filter(customer_id__in=ids)
    assert changes.count() == 1000 and set(changes.values_list("reason", flat=True)) == {
        OwnershipReason.ASSIGNED
    }
    assert AuditEntry.objects.filter(content_type__model="customer", object_id__in=ids).count() == 1000
    assert Event.objects.filter(name="customer.assigned", object_id__in=ids).count() == 1000
    assert Notification.objects.filter(kind="lead_assigned", recipient=capped).count() == 100
    assert Customer.objects.filter(pk__in=ids, owned_since=NOW).count() == 1000
    # assigning again changes nothing
    assert assignment.assign_leads(ids, now=NOW)["assigned"] == 0
    assert Assignment.objects.filter(customer_id__in=ids).count() == 1000


@pytest.mark.django_db
def test_round_robin_is_even_without_capacity_and_continues_after_the_last_rep(team):
    _manager, (a, b, c, _d, _e) = team
    rule = make_rule([c, a, b])  # member order is by id, not by the order they were added
    ids = leads(301)
    assignment.assign_leads(ids, now=NOW)
    counts = owners_of(ids)
    assert sorted(counts.values()) == [100, 100, 101]
    rule.refresh_from_db()
    sequence = list(
        Assignment.objects.filter(customer_id__in=ids)
        .order_by("customer_id")
        .values_list("owner_id", flat=True)
    )
    assert sequence[:4] == [a.pk, b.pk, c.pk, a.pk]
    assert rule.last_assigned_id == sequence[-1] == a.pk

    # the next lead continues after the last rep; an ineligible rep is skipped, not restarted
    b.away_until = NOW + dt.timedelta(hours=1)
    b.save()
    [next_lead] = leads(1)
    assert assignment.assign_lead(next_lead, now=NOW).owner_id == c.pk


# --------------------------------------------------------------------------- rules and conditions


@pytest.mark.django_db
def test_conditions_route_leads_by_source_and_region(team):
    _manager, (zj_rep, fallback_rep, tier_rep, unused, _e) = team
    make_rule([unused], position=0, is_active=False)  # inactive: ignored
    make_rule([zj_rep], position=1, conditions={"source": ["website"], "province": ["浙江"], "city": []})
    make_rule([tier_rep], position=2, conditions={"tier": ["A"], "industry": ["制造业"]})
    make_rule([unused], position=3, conditions={"provnice": ["浙江"]})  # unknown key: never matches
    make_rule([fallback_rep], position=4, conditions={})

    def route(**fields) -> int | None:
        [pk] = leads(1, **fields)
        result = assignment.assign_lead(pk, now=NOW)
        return result.owner_id if result else None

    assert route(source="website", province="浙江省") == zj_rep.pk  # 浙江省 matches 浙江
    assert route(source="website", province="浙江") == zj_rep.pk
    assert route(source="website", province="江苏") == fallback_rep.pk
    assert route(source="phone", province="浙江") == fallback_rep.pk
    assert route(tier="A", industry="制造业", province="江苏") == tier_rep.pk
    assert route(tier="B", industry="制造业") == fallback_rep.pk
    assert Customer.objects.filter(owner=unused).count() == 0


def test_region_names_fold_suffixes_and_traditional_characters():
    fold = assignment_rules.fold_condition_value
    assert fold("province", "广西壮族自治区") == fold("province", "广西") == "广西"
    assert fold("province", "北京市") == fold("province", "北京")
    assert fold("city", "廣州市") == fold("city", "广州")
    assert fold("source", "Website") == "website"


@pytest.mark.django_db
def test_unassignable_leads_stay_unowned_and_the_reason_is_recorded(team):
    _manager, (rep, *_others) = team
    [no_rule] = leads(1, source="phone")
    make_rule([rep], conditions={"source": ["website"]})
    assert assignment.assign_lead(no_rule, now=NOW) is None
    rep.away_until = NOW + dt.timedelta(days=1)
    rep.save()
    [nobody] = leads(1, source="website")
    assert assignment.assign_lead(nobody, now=NOW) is None

    assert Customer.objects.filter(pk__in=[no_rule, nobody], owner__isnull=True).count() == 2
    assert not Assignment.objects.exists() and not OwnershipChange.objects.exists()
    reasons = list(
        Event.objects.filter(name="lead.unassignable")
        .order_by("pk")
        .values_list("object_id", "payload__reason")
    )
    assert reasons == [(no_rule, "no_rule"), (nobody, "no_eligible_rep")]
    assert not AuditEntry.objects.filter(
        content_type__model="customer", object_id__in=[no_rule, nobody]
    ).exists()
    # the retry sweep tries again quietly (no event per attempt)
    assert assignment.assign_waiting_leads(NOW)["assigned"] == 0
    assert assignment.assign_leads([nobody], now=NOW, record_unassignable=False)["not_assigned"] == 1
    assert Event.objects.filter(name="lead.unassignable").count() == 2


@pytest.mark.django_db
def test_owned_deleted_and_pooled_customers_are_never_assigned(team, org):
    from guanxi.core.exceptions import NotFound
    from guanxi.engagement.models import Pool

    _manager, (rep, *_others) = team
    make_rule([rep])
    already = org.customers["c_e1"]
    [deleted] = leads(1, deleted_at=NOW)
    [pooled] = leads(1, pool=Pool.objects.create(name="公海"))
    assert assignment.assign_lead(already.pk, now=NOW) is None
    assert assignment.assign_lead(pooled, now=NOW) is None
    with pytest.raises(NotFound):
        assignment.assign_lead(deleted, now=NOW)
    assert Customer.objects.get(pk=already.pk).owner_id == org.rep_e1.pk
    assert not Assignment.objects.exists()


@pytest.mark.django_db
def test_only_assigners_who_can_see_the_lead_may_run_assignment(org):
    from guanxi.core.exceptions import NotFound

    make_rule([org.rep_e1])
    [pk] = leads(1)
    with pytest.raises(PermissionDenied):
        assignment.assign_lead(pk, actor=org.rep_e1, now=NOW)
    with pytest.raises(NotFound):  # an unowned lead is outside a scoped manager's view
        assignment.assign_lead(pk, actor=org.manager_e, now=NOW)
    assert not Assignment.objects.exists() and not Event.objects.filter(name="lead.unassignable").exists()
    assert assignment.assign_lead(pk, actor=org.admin, now=NOW).owner_id == org.rep_e1.pk
    assert AuditEntry.objects.filter(object_id=pk, content_type__model="customer").get().actor == org.admin
    assert OwnershipChange.objects.get(customer_id=pk).actor == org.admin


# --------------------------------------------------------------------------- eligibility


@pytest.mark.django_db
def test_capacity_counts_live_open_leads_only(team):
    _manager, (rep, other, *_rest) = team
    rep.lead_capacity = 2
    rep.save()
    owned(rep, 3, lifecycle_stage=LifecycleStage.ACTIVE)  # customers, not leads
    owned(rep, 2, deleted_at=NOW)  # in the recycle bin
    owned(rep, 1, lifecycle_stage=LifecycleStage.NEW)  # one open lead
    rule = make_rule([rep, other])
    assert [r.pk for r in assignment.eligible_reps(rule, NOW)] == [rep.pk, other.pk]
    owned(rep, 1)  # second open lead: at capacity
    assert [r.pk for r in assignment.eligible_reps(rule, NOW)] == [other.pk]
    rep.lead_capacity = 0
    other.is_active = False
    rep.save()
    other.save()
    assert assignment.eligible_reps(rule, NOW) == []


def _user(**fields):
    from guanxi.core.models import User

    return User(username="u", is_active=True, **fields)


@pytest.mark.parametrize(
    ("schedule", "local", "expected"),
    [
        (None, dt.datetime(2026, 11, 29, 3, 0), True),  # no schedule: always
        (OFFICE_HOURS, dt.datetime(2026, 11, 25, 9, 0), True),
        (OFFICE_HOURS, dt.datetime(2026, 11, 25, 17, 59), True),
        (OFFICE_HOURS, dt.datetime(2026, 11, 25, 18, 0), False),  # end is exclusive
        (OFFICE_HOURS, dt.datetime(2026, 11, 25, 8, 59), False),
        (OFFICE_HOURS, dt.datetime(2026, 11, 28, 10, 0), False),  # Saturday
        (
            {"days": [4], "start": "22:00", "end": "06:00"},
            dt.datetime(2026, 11, 27, 23, 0),
            True,
        ),  # Fri night
        ({"days": [4], "start": "22:00", "end": "06:00"}, dt.datetime(2026, 11, 28, 5, 0), True),  # Sat early
        (
            {"days": [4], "start": "22:00", "end": "06:00"},
            dt.datetime(2026, 11, 27, 5, 0),
            False,
        ),  # Fri early
        (
            {"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"},
            dt.datetime(2026, 11, 29, 23, 59),
            True,
        ),
        ({"start": "nine", "end": "18:00"}, dt.datetime(2026, 11, 25, 3, 0), True),  # unreadable: no schedule
    ],
)
def test_working_hours_are_read_in_local_time(schedule, local, expected):
    now_utc = local.replace(tzinfo=SHANGHAI).astimezone(dt.UTC)
    assert assignment.is_on_duty(_user(work_schedule=schedule), now_utc) is expected


def test_away_until_makes_a_rep_unavailable_until_then():
    assert not assignment.is_available(_user(away_until=NOW + dt.timedelta(minutes=1)), NOW)
    assert assignment.is_available(_user(away_until=NOW), NOW)
    assert assignment.is_available(_user(away_until=NOW - dt.timedelta(days=1)), NOW)


# --------------------------------------------------------------------------- strategies


@pytest.mark.django_db
def test_least_loaded_picks_the_rep_with_fewest_open_leads_ties_by_id(team):
    _manager, (a, b, c, *_rest) = team
    owned(a, 3)
    owned(b, 1)
    owned(c, 1)
    owned(c, 5, lifecycle_stage=LifecycleStage.ACTIVE)  # not open leads
    make_rule([a, b, c], strategy=AssignmentStrategy.LEAST_LOADED)
    ids = leads(4)
    assignment.assign_leads(ids, now=NOW)
    sequence = list(
        Assignment.objects.filter(customer_id__in=ids)
        .order_by("customer_id")
        .values_list("owner_id", flat=True)
    )
    assert sequence == [b.pk, c.pk, b.pk, c.pk]
    assert assignment.open_lead_counts([a.pk, b.pk, c.pk]) == {a.pk: 3, b.pk: 3, c.pk: 3}


def _history(rep, *, won: int, lost: int, at: dt.datetime) -> None:
    """Past assignments of `rep`: `won` of them converted."""
    ids = owned(rep, won, lifecycle_stage=LifecycleStage.ACTIVE) + owned(rep, lost)
    Assignment.objects.bulk_create(
        [Assignment(customer_id=pk, owner=rep, assigned_at=at, first_response_due_at=at) for pk in ids]
    )


@pytest.mark.django_db
def test_weighted_spreads_by_recent_conversion_with_a_floor_for_new_reps(team):
    _manager, (strong, weak, newcomer, old_star, _e) = team
    _history(strong, won=6, lost=4, at=NOW - dt.timedelta(days=10))  # 60 %
    _history(weak, won=2, lost=8, at=NOW - dt.timedelta(days=30))  # 20 %
    _history(old_star, won=10, lost=0, at=NOW - dt.timedelta(days=120))  # too old: floor
    _history(newcomer, won=0, lost=0, at=NOW)  # nothing yet: floor (10 %)
    rule = make_rule([strong, weak, newcomer, old_star], strategy=AssignmentStrategy.WEIGHTED)
    weights = assignment.conversion_weights(list(rule.members.order_by("pk")), NOW)
    assert weights == {strong.pk: 0.6, weak.pk: 0.2, newcomer.pk: 0.1, old_star.pk: 0.1}

    ids = leads(100)
    assignment.assign_leads(ids, now=NOW)
    counts = owners_of(ids)
    expected = {strong.pk: 60, weak.pk: 20, newcomer.pk: 10, old_star.pk: 10}
    assert all(abs(counts[pk] - n) <= 1 for pk, n in expected.items()), counts
    assert sum(counts.values()) == 100
    # deterministic: every prefix stays within one lead of the weighted share
    sequence = (
        Assignment.objects.filter(customer_id__in=ids)
        .order_by("customer_id")
        .values_list("owner_id", flat=True)
    )
    running: Counter = Counter()
    for n, owner_id in enumerate(sequence, start=1):
        running[owner_id] += 1
        assert all(abs(running[pk] - share / 100 * n) < 1 + 1e-9 for pk, share in expected.items())


# --------------------------------------------------------------------------- first response


@pytest.mark.django_db(transaction=True)
def test_breach_sweep_tells_the_manager_once(team, worker):
    manager, (rep, quick, orphan, moved_rep, _e) = team
    orphan.manager = None
    orphan.save()
    make_rule([rep, quick, orphan, moved_rep], first_response_minutes=120)
    ids = leads(4)
    assignment.assign_leads(ids, now=NOW)
    by_owner = dict(Assignment.objects.filter(customer_id__in=ids).values_list("owner_id", "customer_id"))
    assert assignment.record_first_response(by_owner[quick.pk], NOW + dt.timedelta(minutes=30)) == 1
    Customer.objects.filter(pk=by_owner[moved_rep.pk]).update(owner=manager)  # no longer that rep's lead

    assert assignment.breach_sweep(NOW + dt.timedelta(minutes=119)) == {"breaches": 0, "managers_notified": 0}
    late = NOW + dt.timedelta(minutes=121)
    with worker():  # the alerts are sent by messaging's subscriber in the worker
        assert assignment.breach_sweep(late) == {"breaches": 2, "managers_notified": 1}
    assert assignment.breach_sweep(late) == {"breaches": 0, "managers_notified": 0}
    assert assignment.breach_sweep(late + dt.timedelta(hours=5)) == {"breaches": 0, "managers_notified": 0}

    alerts = Notification.objects.filter(kind="lead_response_breach")
    assert [(n.recipient_id, n.url) for n in alerts] == [(manager.pk, f"/customers/{by_owner[rep.pk]}/")]
    assert set(
        Notification.objects.filter(kind="lead_response_overdue").values_list("recipient_id", flat=True)
    ) == {rep.pk, orphan.pk}
    assert set(Assignment.objects.filter(breach_notified_at=late).values_list("owner_id", flat=True)) == {
        rep.pk,
        orphan.pk,
    }


@pytest.mark.django_db
def test_record_first_response_is_idempotent_and_called_by_follow_ups(team):
    from guanxi.engagement.actions import follow_ups as actions

    _manager, (rep, *_rest) = team
    make_rule([rep])
    [pk] = leads(1)
    assignment.assign_lead(pk, now=NOW)
    actions.log_follow_up(pk, {"kind": "call", "content": "打过电话"}, actor=rep)
    first = Assignment.objects.get(customer_id=pk).first_response_at
    assert first is not None
    assert assignment.record_first_response(pk, first + dt.timedelta(hours=1)) == 0
    assert Assignment.objects.get(customer_id=pk).first_response_at == first


# --------------------------------------------------------------------------- worker


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_new_unowned_leads_are_assigned_by_the_worker(roles, queue):
    rep = make_user("worker_rep", role=roles["sales_rep"])
    make_rule([rep], conditions={"source": ["website"]})
    lead = make_customer(None, name="网站线索", source="website")
    owned_one = make_customer(rep, name="自己的客户", source="website")
    customer_lead = make_customer(None, name="老客户", source="website", lifecycle_stage="active")
    drain(queue)

    assert Customer.objects.get(pk=lead.pk).owner_id == rep.pk
    assert Assignment.objects.filter(customer_id=lead.pk).count() == 1
    assert Customer.objects.get(pk=customer_lead.pk).owner_id is None  # not a lead stage
    assert not Assignment.objects.filter(customer_id__in=[owned_one.pk, customer_lead.pk]).exists()
    event = Event.objects.get(name="customer.assigned", object_id=lead.pk)
    assert event.causation.name == "customer.created"  # caused by the creation event
    assert Notification.objects.filter(recipient=rep, kind="lead_assigned").count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_new_leads_and_the_periodic_sweeps_run_in_the_worker(roles, queue):
    from guanxi.engagement import tasks_assignment

    manager = make_user("sweep_manager", role=roles["sales_manager"])
    rep = make_user("sweep_rep", role=roles["sales_rep"], manager=manager)
    make_rule([rep], first_response_minutes=1)
    pk = make_customer(None, name="新线索", lifecycle_stage=LifecycleStage.POTENTIAL).pk
    drain(queue)  # customer.created -> assign_new_lead, run by the worker
    assert Customer.objects.get(pk=pk).owner_id == rep.pk
    Assignment.objects.filter(customer_id=pk).update(
        first_response_due_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    assert tasks_assignment.breach_sweep_task.call_local() == {"breaches": 1, "managers_notified": 1}
    assert tasks_assignment.assign_waiting_leads_task.call_local()["assigned"] == 0
    drain(queue)  # the breach event's subscriber sends the alert
    assert Notification.objects.filter(recipient=manager, kind="lead_response_breach").count() == 1


@pytest.mark.django_db
def test_leads_that_waited_are_assigned_when_reps_come_on_duty(team):
    _manager, (rep, *_rest) = team
    rep.work_schedule = OFFICE_HOURS
    rep.save()
    make_rule([rep])
    night = NOW.replace(hour=2)
    [pk] = leads(1)
    Customer.objects.filter(pk=pk).update(created_at=night)
    assert assignment.assign_lead(pk, now=night) is None
    assert assignment.assign_waiting_leads(night)["assigned"] == 0
    assert assignment.assign_waiting_leads(NOW)["assigned"] == 1
    assert Customer.objects.get(pk=pk).owner_id == rep.pk
    # a lead that was owned once (e.g. released) is the pool's business, not the sweep's
    [released] = leads(1)
    OwnershipChange.objects.create(customer_id=released, from_user=rep, reason=OwnershipReason.RELEASED)
    assert released not in assignment.waiting_leads(NOW).values_list("pk", flat=True)


# --------------------------------------------------------------------------- concurrency


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_keep_round_robin_even(team):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("in-memory SQLite fails concurrent writers at once (SQLITE_LOCKED); runs on PostgreSQL")
    _manager, reps = team
    make_rule(reps[:3])
    ids = leads(60)
    barrier = threading.Barrier(6)
    errors: list = []

    def work(part: list[int]) -> None:
        try:
            barrier.wait(timeout=30)
            assignment.assign_leads(part, now=NOW)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(ids[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(owners_of(ids).values()) == [20, 20, 20]
    assert Assignment.objects.filter(customer_id__in=ids).count() == 60


# --------------------------------------------------------------------------- rule editing and pages


@pytest.mark.django_db
def test_rule_actions_validate_audit_and_respect_scope(org):
    data = {
        "name": "浙江网站线索",
        "strategy": "least_loaded",
        "first_response_minutes": "30",
        "member_ids": [org.rep_e1.pk, org.rep_e2.pk],
        "conditions": {"source": ["website"], "province": "浙江, 上海，江苏", "tier": ["", "A"]},
    }
    rule = assignment_rules.save_rule(data, actor=org.manager_e)
    assert rule.conditions == {
        "source": ["website"], "province": ["浙江", "上海", "江苏"], "city": [], "industry": [], "tier": ["", "A"],
    }  # fmt: skip
    assert rule.first_response_minutes == 30 and rule.strategy == "least_loaded"
    assert AuditEntry.objects.filter(content_type__model="assignmentrule", object_id=rule.pk).count() == 1
    assignment_rules.save_rule(data, actor=org.manager_e, rule_id=rule.pk)  # unchanged: no audit
    assert AuditEntry.objects.filter(content_type__model="assignmentrule", object_id=rule.pk).count() == 1

    with pytest.raises(ValidationError) as bad:
        assignment_rules.save_rule(
            {**data, "strategy": "random", "first_response_minutes": 0, "member_ids": [],
             "conditions": {"source": ["fax"], "colour": ["red"]}},
            actor=org.manager_e,
        )  # fmt: skip
    assert set(bad.value.message_dict) == {
        "strategy",
        "first_response_minutes",
        "member_ids",
        "source",
        "conditions",
    }
    with pytest.raises(PermissionDenied):  # rep_s1 is outside the East manager's scope
        assignment_rules.save_rule({**data, "member_ids": [org.rep_s1.pk]}, actor=org.manager_e)
    with pytest.raises(PermissionDenied):
        assignment_rules.save_rule(data, actor=org.rep_e1)
    director_rule = assignment_rules.save_rule({**data, "member_ids": [org.rep_s1.pk]}, actor=org.director)
    with pytest.raises(PermissionDenied):  # cannot change or delete a rule holding reps one cannot see
        assignment_rules.delete_rule(director_rule.pk, actor=org.manager_e)
    assignment_rules.delete_rule(director_rule.pk, actor=org.director)
    assert not AssignmentRule.objects.filter(pk=director_rule.pk).exists()


def _client(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.mark.django_db
def test_rule_pages_create_edit_and_list(org):
    client = _client(org.director)
    assert client.get("/assignment/").status_code == 200
    response = client.post(
        "/assignment/rules/new/",
        {
            "name": "华东网站",
            "position": "1",
            "is_active": "on",
            "strategy": "round_robin",
            "first_response_minutes": "60",
            "members": [org.rep_e1.pk, org.rep_e2.pk],
            "source": ["website", "wechat"],
            "province": "浙江，上海",
            "city": "",
            "industry": "",
            "tier": ["A"],
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = AssignmentRule.objects.get(name="华东网站")
    assert rule.conditions["source"] == ["website", "wechat"] and rule.conditions["province"] == [
        "浙江",
        "上海",
    ]
    assert set(rule.members.values_list("pk", flat=True)) == {org.rep_e1.pk, org.rep_e2.pk}

    page = client.get(f"/assignment/rules/{rule.pk}/edit/")
    assert page.status_code == 200 and "浙江, 上海" in page.content.decode()
    invalid = client.post(f"/assignment/rules/{rule.pk}/edit/", {"name": "", "strategy": "round_robin"})
    assert invalid.status_code == 200 and "invalid-feedback" in invalid.content.decode()
    listing = client.get("/assignment/").content.decode()
    assert "华东网站" in listing and "Round robin" in listing

    assert _client(org.rep_e1).get("/assignment/").status_code == 403
    assert _client(org.manager_e).get(f"/assignment/rules/{rule.pk}/edit/").status_code == 200
    rule.members.add(org.rep_s1)
    assert _client(org.manager_e).get(f"/assignment/rules/{rule.pk}/edit/").status_code == 403
    assert client.post(f"/assignment/rules/{rule.pk}/delete/").status_code == 302
    assert not AssignmentRule.objects.filter(pk=rule.pk).exists()
