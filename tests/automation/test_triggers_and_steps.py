"""The triggers and steps not covered elsewhere, through the real queue: deleted, schedule and inbound
webhook triggers; follow-up, remove tag, move to pool, cadences, wait and branch steps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from guanxi.automation.actions import engine, rules, sweeps
from guanxi.automation.models import RuleRun, RunStatus, TriggerType
from guanxi.customers.actions import bulk_tag, delete_customer
from guanxi.customers.models import Customer
from guanxi.engagement.models import Cadence, CadenceEnrollment, CadenceStep, EnrollmentStatus, FollowUp, Pool
from guanxi.messaging.models import Notification
from tests.conftest import drain
from tests.customers.test_inbound import WEB_FORM, deliver, make_source
from tests.factories import make_customer

pytestmark = pytest.mark.django_db(transaction=True)


def _rule(org, **data):
    return rules.save_rule(
        {"name": "规则", "object_type": "customer", "enabled": True, **data}, actor=org.admin
    )


def test_deleted_trigger_tells_the_owner(org, queue):
    _rule(org, trigger={"type": "deleted"},
          actions=[{"type": "notify", "to": ["owner"], "title": "{{ customer.name }} 已被删除"}])  # fmt: skip
    customer = make_customer(org.rep_e1, name="被删客户")
    drain(queue)
    delete_customer(customer.pk, actor=org.admin)
    drain(queue)
    assert Notification.objects.filter(recipient=org.rep_e1, title="被删客户 已被删除").count() == 1


def test_schedule_trigger_fires_once_per_record_and_slot(org, queue):
    now = timezone.now()
    local = timezone.localtime(now)
    rule = _rule(org, trigger={"type": "schedule", "cron": f"{local.minute} {local.hour} * * *"},
                 conditions={"all": [{"field": "city", "op": "eq", "value": "厦门"}]},
                 actions=[{"type": "add_tag", "tag": "每日检查"}])  # fmt: skip
    xiamen = make_customer(org.rep_e1, name="厦门客户", city="厦门")
    make_customer(org.rep_e1, name="福州客户", city="福州")
    drain(queue)
    sweeps.sweep(now, kinds=(TriggerType.SCHEDULE,))
    sweeps.sweep(now, kinds=(TriggerType.SCHEDULE,))
    sweeps.sweep(now + dt.timedelta(minutes=1), kinds=(TriggerType.SCHEDULE,))  # not a matching minute
    drain(queue)
    assert list(RuleRun.objects.filter(rule=rule).values_list("object_id", flat=True)) == [xiamen.pk]
    assert list(xiamen.tags.values_list("name", flat=True)) == ["每日检查"]


def test_inbound_webhook_trigger(org, queue):
    rule = _rule(org, trigger={"type": "webhook"}, actions=[{"type": "add_tag", "tag": "网站线索"}])
    make_customer(org.rep_e1, name="手工录入")  # not through a webhook: no firing
    response = deliver(make_source(), WEB_FORM)
    assert response.status_code in (200, 201), response.content
    drain(queue)
    run = RuleRun.objects.get(rule=rule)
    customer = Customer.objects.get(pk=run.object_id)
    assert list(customer.tags.values_list("name", flat=True)) == ["网站线索"]


def test_follow_up_remove_tag_and_move_to_pool_steps(org, queue):
    pool = Pool.objects.create(name="公共公海", is_default=True)
    _rule(org, trigger={"type": "field_changed", "field": "lifecycle_stage", "to": "churned"},
          actions=[{"type": "create_follow_up", "kind": "other", "content": "自动记录：{{ customer.name }} 流失"},
                   {"type": "remove_tag", "tag": "重点"},
                   {"type": "move_to_pool"}])  # fmt: skip
    customer = make_customer(org.rep_e1, name="流失客户")
    bulk_tag([customer.pk], ["重点"], actor=org.admin)
    drain(queue)
    from guanxi.customers.actions import update_customer

    update_customer(customer.pk, {"lifecycle_stage": "churned"}, actor=org.manager_e)
    drain(queue)
    customer.refresh_from_db()
    assert FollowUp.objects.get(customer=customer).content == "自动记录：流失客户 流失"
    assert not customer.tags.exists()
    assert (customer.owner_id, customer.pool_id) == (None, pool.pk)


def test_cadence_steps_start_and_stop(org, queue):
    cadence = Cadence.objects.create(name="新客培育")
    CadenceStep.objects.create(cadence=cadence, position=0, offset_hours=1, kind="call", title="首次回访")
    _rule(org, name="启动", trigger={"type": "field_changed", "field": "tier", "to": "A"},
          actions=[{"type": "start_cadence", "cadence_id": cadence.pk}])  # fmt: skip
    _rule(org, name="停止", trigger={"type": "field_changed", "field": "tier", "to": "C"},
          actions=[{"type": "stop_cadence"}])  # fmt: skip
    customer = make_customer(org.rep_e1, name="培育客户")
    drain(queue)
    from guanxi.customers.actions import update_customer

    update_customer(customer.pk, {"tier": "A"}, actor=org.manager_e)
    drain(queue)
    enrollment = CadenceEnrollment.objects.get(customer=customer, cadence=cadence)
    assert enrollment.status == EnrollmentStatus.ACTIVE
    update_customer(customer.pk, {"tier": "C"}, actor=org.manager_e)
    drain(queue)
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.STOPPED


def test_wait_then_continue_and_branch(org, queue):
    rule = _rule(
        org, trigger={"type": "created"},
        actions=[
            {"type": "add_tag", "tag": "第一步"},
            {"type": "wait", "hours": 24},
            {"type": "branch", "conditions": {"all": [{"field": "city", "op": "eq", "value": "上海"}]},
             "then": [{"type": "add_tag", "tag": "上海跟进"}], "else": [{"type": "add_tag", "tag": "其他城市"}]},
        ],
    )  # fmt: skip
    shanghai = make_customer(org.rep_e1, name="上海等待", city="上海")
    beijing = make_customer(org.rep_e1, name="北京等待", city="北京")
    drain(queue)
    assert set(RuleRun.objects.filter(rule=rule).values_list("status", flat=True)) == {RunStatus.WAITING}
    assert list(shanghai.tags.values_list("name", flat=True)) == ["第一步"]
    assert engine.retry_due(timezone.now() + dt.timedelta(hours=1)) == 0  # not yet
    assert engine.retry_due(timezone.now() + dt.timedelta(hours=25)) == 2
    drain(queue)
    assert set(shanghai.tags.values_list("name", flat=True)) == {"第一步", "上海跟进"}
    assert set(beijing.tags.values_list("name", flat=True)) == {"第一步", "其他城市"}
    run = RuleRun.objects.get(rule=rule, object_id=shanghai.pk)
    assert run.status == RunStatus.SUCCEEDED
    assert [r["type"] for r in run.results] == ["add_tag", "wait", "branch", "add_tag"]
