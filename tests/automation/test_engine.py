"""The engine through the real queue: event triggers, conditions on changes, the run log, causation
and loop protection, relative-time sweeps that fire exactly once, failures retried later."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from guanxi.automation.actions import engine, rules, sweeps
from guanxi.automation.models import Rule, RuleRun, RuleVersion, RunStatus
from guanxi.core.models import AuditEntry, Event
from guanxi.customers.actions import update_customer
from guanxi.customers.models import Customer
from guanxi.engagement.models import Task
from guanxi.messaging.models import Notification
from guanxi.sales.models import Order, OrderStatus
from tests.conftest import drain
from tests.factories import make_customer

pytestmark = pytest.mark.django_db(transaction=True)


def _rule(org, **data) -> Rule:
    base = {"name": "规则", "object_type": "customer", "enabled": True}
    return rules.save_rule({**base, **data}, actor=org.admin)


def test_a_tier_change_to_a_creates_a_task_and_notifies_the_owner_once(org, queue):
    rule = _rule(
        org, name="升为A类客户",
        trigger={"type": "field_changed", "field": "tier", "to": "A"},
        actions=[
            {"type": "create_task", "title": "回访 {{ customer.name }}（{{ record.tier }}）", "due_in_hours": 48},
            {"type": "notify", "to": ["owner"], "title": "{{ customer.name }} 升为 A 类"},
        ],
    )  # fmt: skip
    customer = make_customer(org.rep_e1, name="升级客户", tier="B")
    drain(queue)
    update_customer(customer.pk, {"tier": "A"}, actor=org.manager_e)
    update_customer(customer.pk, {"city": "杭州"}, actor=org.manager_e)  # not a tier change
    drain(queue)
    run = RuleRun.objects.get(rule=rule)
    assert (run.status, run.object_id, run.version) == (RunStatus.SUCCEEDED, customer.pk, 1)
    assert run.seen == {} and [r["type"] for r in run.results] == ["create_task", "notify"]
    task = Task.objects.get(customer=customer)
    assert task.title.startswith("回访 升级客户（") and run.results[0]["result"]["task_id"] == task.pk
    assert task.owner == org.rep_e1
    assert (
        Notification.objects.filter(
            recipient=org.rep_e1, kind="automation", title="升级客户 升为 A 类"
        ).count()
        == 1
    )
    entry = AuditEntry.objects.filter(content_type__model="task", object_id=task.pk).get()
    assert entry.actor_label.endswith(f"rule #{rule.pk}")
    # The event processed again (a duplicate delivery) fires nothing more.
    engine.handle_event(Event.objects.get(pk=run.event_id))
    assert (
        RuleRun.objects.filter(rule=rule).count() == 1 and Task.objects.filter(customer=customer).count() == 1
    )


def test_conditions_filter_and_every_edit_keeps_a_version(org, queue):
    rule = _rule(org, trigger={"type": "created"}, conditions={"all": [{"field": "city", "op": "eq", "value": "上海"}]},
                 actions=[{"type": "add_tag", "tag": "上海客户"}])  # fmt: skip
    rules.save_rule({"conditions": {"all": [{"field": "city", "op": "contains", "value": "上海"}]}},
                    actor=org.admin, rule_id=rule.pk)  # fmt: skip
    assert list(RuleVersion.objects.filter(rule=rule).values_list("version", flat=True)) == [2, 1]
    shanghai = make_customer(org.rep_e1, name="沪客", city="上海市")
    beijing = make_customer(org.rep_e1, name="京客", city="北京")
    drain(queue)
    assert list(shanghai.tags.values_list("name", flat=True)) == ["上海客户"]
    assert not beijing.tags.exists()
    assert RuleRun.objects.get(rule=rule).version == 2
    assert RuleRun.objects.get(rule=rule).seen == {"city": "上海市"}


def test_rule_a_updating_a_field_rule_b_watches_fires_b_once_and_a_self_loop_is_cut(org, queue):
    a = _rule(org, name="A", trigger={"type": "field_changed", "field": "tier", "to": "A"},
              actions=[{"type": "update_field", "field": "industry", "value": "重点行业"}])  # fmt: skip
    b = _rule(org, name="B", trigger={"type": "field_changed", "field": "industry"},
              actions=[{"type": "create_task", "title": "行业变更：{{ customer.industry }}"}])  # fmt: skip
    loop = _rule(org, name="自循环", trigger={"type": "updated", "fields": ["notes"]},
                 actions=[{"type": "update_field", "field": "notes", "value": "已处理"}])  # fmt: skip
    customer = make_customer(org.rep_e1, name="因果客户")
    drain(queue)
    update_customer(customer.pk, {"tier": "A"}, actor=org.manager_e)
    drain(queue)
    assert RuleRun.objects.filter(rule=a, status=RunStatus.SUCCEEDED).count() == 1
    assert RuleRun.objects.filter(rule=b, status=RunStatus.SUCCEEDED).count() == 1
    assert Task.objects.get(customer=customer).title == "行业变更：重点行业"
    update_customer(customer.pk, {"notes": "请跟进"}, actor=org.manager_e)
    drain(queue)
    assert RuleRun.objects.filter(rule=loop, status=RunStatus.SUCCEEDED).count() == 1
    cut = RuleRun.objects.get(rule=loop, status=RunStatus.CUT)
    assert "does not trigger itself" in cut.error
    assert Customer.objects.get(pk=customer.pk).notes == "已处理"


def test_relative_time_rule_fires_once_per_last_order_whatever_the_number_of_sweeps(org, queue):
    rule = _rule(
        org, name="30天未复购",
        trigger={"type": "relative_time", "field": "last_order_at", "days": 30, "window_days": 5},
        actions=[{"type": "create_task", "title": "复购提醒 {{ customer.name }}"},
                 {"type": "notify", "to": ["owner"], "title": "{{ customer.name }} 30 天未下单"}],
    )  # fmt: skip
    now = timezone.now()
    due = make_customer(org.rep_e1, name="到期")
    fresh = make_customer(org.rep_e1, name="新单")
    ancient = make_customer(org.rep_e1, name="很久以前")
    for customer, days in ((due, 31), (fresh, 3), (ancient, 400)):
        Order.objects.create(customer=customer, number=f"N{customer.pk}", ordered_at=now - dt.timedelta(days=days),
                             amount=decimal.Decimal("10"), status=OrderStatus.PAID)  # fmt: skip
    drain(queue)
    for _ in range(3):
        sweeps.sweep(now)
    drain(queue)
    assert list(RuleRun.objects.filter(rule=rule).values_list("object_id", flat=True)) == [due.pk]
    assert Task.objects.filter(title__startswith="复购提醒").count() == 1
    # A new order 31 days later is a new occurrence.
    Order.objects.create(customer=due, number="N-again", ordered_at=now + dt.timedelta(days=1),
                         amount=decimal.Decimal("10"), status=OrderStatus.PAID)  # fmt: skip
    sweeps.sweep(now + dt.timedelta(days=32))
    drain(queue)
    assert RuleRun.objects.filter(rule=rule, object_id=due.pk, status=RunStatus.SUCCEEDED).count() == 2
    assert Task.objects.filter(customer=due, title__startswith="复购提醒").count() == 2


def test_a_sweeps_claims_lost_with_the_queue_are_performed_once_by_the_next_sweep_or_after_the_lease(
    org, queue
):
    """A sweep claims (QUEUED run rows) and hands the claims to the worker. Claims whose tasks were
    lost (a worker killed, a queue flushed) are handed over again by the next sweep, or performed by
    the retry sweep once their lease is over; a claim is performed at most once either way."""
    rule = _rule(
        org, name="30天未复购", trigger={"type": "relative_time", "field": "last_order_at", "days": 30},
        actions=[{"type": "create_task", "title": "复购提醒 {{ customer.name }}"}],
    )  # fmt: skip
    now = timezone.now()
    customers = [make_customer(org.rep_e1, name=f"到期{i}") for i in range(3)]
    for customer in customers:
        Order.objects.create(customer=customer, number=f"Q{customer.pk}", ordered_at=now - dt.timedelta(days=31),
                             amount=decimal.Decimal("10"), status=OrderStatus.PAID)  # fmt: skip
    drain(queue)
    assert sweeps.sweep_rule(rule, now) == {"due": 3, "queued": 3}
    assert set(RuleRun.objects.filter(rule=rule).values_list("status", flat=True)) == {RunStatus.QUEUED}
    queue.flush()  # the claims' tasks are lost
    assert not Task.objects.filter(title__startswith="复购提醒").exists()
    assert sweeps.sweep_rule(rule, now) == {"due": 0, "queued": 3}  # no new claim; the old ones again
    drain(queue)
    drain(queue)
    assert Task.objects.filter(title__startswith="复购提醒").count() == 3
    assert set(RuleRun.objects.filter(rule=rule).values_list("status", "attempts")) == {
        (RunStatus.SUCCEEDED, 1)
    }
    assert engine.perform_queued(list(RuleRun.objects.values_list("pk", flat=True))) == 0  # done: skipped

    later = make_customer(org.rep_e1, name="到期晚")
    Order.objects.create(customer=later, number="Q-late", ordered_at=now - dt.timedelta(days=31),
                         amount=decimal.Decimal("10"), status=OrderStatus.PAID)  # fmt: skip
    drain(queue)
    assert sweeps.sweep_rule(rule, now)["due"] == 1
    queue.flush()
    assert engine.retry_due(now) == 0  # within the lease: left to the queue
    assert engine.retry_due(now + sweeps.QUEUED_LEASE) == 1
    assert Task.objects.filter(customer=later, title__startswith="复购提醒").count() == 1


def test_a_template_reads_computed_fields_its_conditions_do_not_name(org, queue):
    """Records are read with the computed fields the rule's steps name (here the last order's amount
    in a template), not only those its conditions name: on an event and when a sweep's claim is
    performed."""
    on_event = _rule(org, name="备注变更", trigger={"type": "updated", "fields": ["notes"]},
                     actions=[{"type": "create_task", "title": "事件 {{ customer.last_order_amount }}"}])  # fmt: skip
    _rule(org, name="30天", trigger={"type": "relative_time", "field": "last_order_at", "days": 30},
          actions=[{"type": "create_task", "title": "定时 {{ customer.last_order_amount }}"}])  # fmt: skip
    customer = make_customer(org.rep_e1, name="金额客户")
    Order.objects.create(customer=customer, number="AMT-1", ordered_at=timezone.now() - dt.timedelta(days=31),
                         amount=decimal.Decimal("88.50"), status=OrderStatus.PAID)  # fmt: skip
    drain(queue)
    update_customer(customer.pk, {"notes": "改"}, actor=org.rep_e1)
    drain(queue)
    sweeps.sweep(timezone.now())
    drain(queue)
    titles = sorted(Task.objects.filter(customer=customer).values_list("title", flat=True))
    assert titles == ["事件 88.50", "定时 88.50"]
    assert RuleRun.objects.get(rule=on_event).status == RunStatus.SUCCEEDED


def test_a_failing_action_is_recorded_retried_and_does_not_hold_up_other_rules(org, queue, settings):
    settings.AUTOMATION_RETRY_BASE_SECONDS = 0
    broken = _rule(org, name="坏规则", trigger={"type": "created"},
                   actions=[{"type": "assign_owner", "user_id": org.rep_e2.pk}])  # fmt: skip
    fine = _rule(
        org, name="好规则", trigger={"type": "created"}, actions=[{"type": "add_tag", "tag": "新客"}]
    )
    # The rule's owner loses the right to assign: its transfer action fails.
    Rule.objects.filter(pk=broken.pk).update(owner=org.rep_e1)
    customer = make_customer(org.rep_e1, name="失败客户")
    drain(queue)
    failed = RuleRun.objects.get(rule=broken)
    assert failed.status == RunStatus.FAILED and "step 1" in failed.error
    assert RuleRun.objects.get(rule=fine).status == RunStatus.SUCCEEDED
    assert list(customer.tags.values_list("name", flat=True)) == ["新客"]
    Rule.objects.filter(pk=broken.pk).update(owner=org.admin)  # fixed
    assert engine.retry_due(timezone.now() + dt.timedelta(seconds=1)) == 1
    failed.refresh_from_db()
    assert failed.status == RunStatus.SUCCEEDED and failed.attempts == 2
    assert Customer.objects.get(pk=customer.pk).owner == org.rep_e2


@pytest.mark.parametrize(
    "data, part, message",
    [
        ({"trigger": {"type": "created"}, "conditions": {"all": [{"field": "nope", "op": "eq", "value": 1}]},
          "actions": [{"type": "add_tag", "tag": "x"}]}, "conditions", "unknown field nope"),
        ({"trigger": {"type": "created"}, "conditions": {"all": [{"field": "tier", "op": "gt", "value": 1}]},
          "actions": [{"type": "add_tag", "tag": "x"}]}, "conditions", "cannot be filtered with gt"),
        ({"trigger": {"type": "created"}, "actions": [{"type": "notify", "title": "{{ customer.nmae }}"}]},
         "actions", "unknown variable {{ customer.nmae }}"),
        ({"trigger": {"type": "schedule", "cron": "0 99 * * *"}, "actions": [{"type": "add_tag", "tag": "x"}]},
         "trigger", "not valid"),
        ({"trigger": {"type": "created"}, "actions": [{"type": "teleport"}]}, "actions", "unknown action type"),
    ],
)  # fmt: skip
def test_bad_rules_are_refused_naming_the_part_and_nothing_is_saved(org, data, part, message):
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        rules.save_rule({"name": "坏", "object_type": "customer", **data}, actor=org.admin)
    assert message in " ".join(exc.value.message_dict[part])
    assert not Rule.objects.exists()


def test_a_rule_whose_owner_left_fails_visibly_instead_of_acting_for_them(org, queue):
    from guanxi.core.models import User

    rule = _rule(org, trigger={"type": "created"}, actions=[{"type": "add_tag", "tag": "新客"}])
    leaver = User.objects.get(pk=org.manager_e.pk)
    Rule.objects.filter(pk=rule.pk).update(owner=leaver)
    User.objects.filter(pk=leaver.pk).update(is_active=False)
    customer = make_customer(org.rep_e1, name="离职后新客")
    drain(queue)
    run = RuleRun.objects.get(rule=rule)
    assert run.status == RunStatus.FAILED and "deactivated" in run.error
    assert not customer.tags.exists()
