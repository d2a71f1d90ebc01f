"""The shipped templates: each installs, is enabled and works end to end through the real queue."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from django.utils import timezone

from guanxi.automation.actions import rules, sweeps
from guanxi.automation.models import Rule, RuleRun, RunStatus
from guanxi.automation.templates import TEMPLATES
from guanxi.customers.models import Customer
from guanxi.engagement.models import AssignmentRule, Task
from guanxi.messaging.models import Notification
from guanxi.sales import actions as sales_actions
from guanxi.sales.models import Order, OrderStatus, StageOutcome
from tests.conftest import drain
from tests.factories import make_customer

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_template_is_a_valid_rule_installed_disabled(org):
    for template in TEMPLATES:
        rule = rules.install_template(template.key, actor=org.admin)
        assert rule.enabled is False and rule.template_key == template.key
    assert Rule.objects.count() == len(TEMPLATES)


def _paid_order(customer, days_ago: int, number: str) -> Order:
    return Order.objects.create(customer=customer, number=number, status=OrderStatus.PAID,
                                ordered_at=timezone.now() - dt.timedelta(days=days_ago), amount=decimal.Decimal("88"))  # fmt: skip


def test_thank_you_seven_days_after_a_purchase(org, queue):
    rules.install_template("thank_you_after_purchase", actor=org.admin, enabled=True)
    customer = make_customer(org.rep_e1, name="感谢客户")
    _paid_order(customer, 8, "T-1")
    _paid_order(customer, 2, "T-2")
    drain(queue)
    sweeps.sweep()
    sweeps.sweep()
    drain(queue)  # the worker performs the sweep's claims
    task = Task.objects.get(customer=customer)
    assert task.title == "致谢回访：感谢客户（订单 T-1）" and task.owner == org.rep_e1


def test_win_back_after_ninety_days_without_an_order(org, queue):
    rules.install_template("win_back_90_days", actor=org.admin, enabled=True)
    silent = make_customer(org.rep_e1, name="沉睡客户")
    active = make_customer(org.rep_e1, name="活跃客户")
    _paid_order(silent, 95, "W-1")
    _paid_order(active, 10, "W-2")
    drain(queue)
    sweeps.sweep()
    drain(queue)
    assert Task.objects.get(customer=silent).title == "挽回：沉睡客户"
    assert not Task.objects.filter(customer=active).exists()
    assert Notification.objects.get(recipient=org.rep_e1, kind="automation").title == "沉睡客户 已90天未下单"


def test_new_lead_is_assigned_and_the_manager_told(org, queue):
    rules.install_template("new_lead_assign_and_notify", actor=org.admin, enabled=True)
    AssignmentRule.objects.create(name="全部", strategy="round_robin", is_active=True, position=0)
    assignment_rule = AssignmentRule.objects.get()
    assignment_rule.members.add(org.rep_e1)
    lead = make_customer(None, name="新线索")
    drain(queue)
    assert Customer.objects.get(pk=lead.pk).owner == org.rep_e1
    titles = set(Notification.objects.filter(kind="automation").values_list("recipient__username", "title"))
    assert (org.rep_e1.manager.username, "新线索：新线索") in titles
    assert RuleRun.objects.get().status == RunStatus.SUCCEEDED


def test_a_won_deal_gets_its_delivery_task(org, queue):
    rules.install_template("deal_won_delivery_task", actor=org.admin, enabled=True)
    pipeline = sales_actions.ensure_default_pipeline()
    customer = make_customer(org.rep_e1, name="签约客户")
    deal = sales_actions.create_deal(customer.pk, {"name": "年度合同", "amount": "50000"}, actor=org.rep_e1)
    drain(queue)
    won = pipeline.stages.get(outcome=StageOutcome.WON)
    sales_actions.move_deal(deal.pk, won.pk, actor=org.rep_e1)
    drain(queue)
    task = Task.objects.get(customer=customer)
    assert task.title == "交付启动：年度合同（签约客户）" and task.owner == org.rep_e1
