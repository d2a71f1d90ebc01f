"""Ready-to-enable rules for the sentences business users say most (issue 10's list), installed
disabled so that a manager reads them, adjusts the wording and enables them.

Each template is an ordinary rule definition, validated like any other when installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Template:
    key: str
    title: Any
    sentence: Any
    definition: dict[str, Any]


TEMPLATES = [
    Template(
        "thank_you_after_purchase",
        _("Thank-you 7 days after a purchase"),
        _("7 days after a purchase, the owner gets a task to thank the customer."),
        {
            "name": "购买7天后致谢", "object_type": "order",
            "description": "订单付款7天后，提醒负责人向客户致谢并回访使用情况。",
            "trigger": {"type": "relative_time", "field": "ordered_at", "days": 7, "window_days": 3},
            "conditions": {"all": [{"field": "status", "op": "eq", "value": "paid"}]},
            "actions": [{"type": "create_task", "title": "致谢回访：{{ customer.name }}（订单 {{ order.number }}）",
                         "due_in_hours": 24, "assignee": "owner"}],
        },
    ),
    Template(
        "win_back_90_days",
        _("Win back after 90 days without an order"),
        _("No order for 90 days: the owner is told and gets a win-back task."),
        {
            "name": "90天未下单挽回", "object_type": "customer",
            "description": "最近一次付款订单满90天仍未复购：通知负责人并创建挽回任务。",
            "trigger": {"type": "relative_time", "field": "last_order_at", "days": 90, "window_days": 30},
            "conditions": {"all": [{"field": "owner", "op": "not_empty"}]},
            "actions": [
                {"type": "notify", "to": ["owner"], "title": "{{ customer.name }} 已90天未下单",
                 "body": "最近一次下单：{{ customer.last_order_at }}，金额 {{ customer.last_order_amount }}。"},
                {"type": "create_task", "title": "挽回：{{ customer.name }}", "due_in_hours": 72, "assignee": "owner"},
            ],
        },
    ),
    Template(
        "new_lead_assign_and_notify",
        _("New lead: assign an owner and tell the manager"),
        _("A new customer without an owner is assigned by the lead assignment rules; the new owner's manager is told."),
        {
            "name": "新线索分配并通知主管", "object_type": "customer",
            "description": "新建的客户若没有负责人，按线索分配规则分配（已有负责人时此步不做任何事），并通知负责人及其主管。",
            "trigger": {"type": "created"},
            "actions": [
                {"type": "assign_owner", "strategy": "assignment_rules"},
                {"type": "notify", "to": ["owner_manager", "owner"], "title": "新线索：{{ customer.name }}",
                 "body": "负责人：{{ customer.owner }}，来源：{{ customer.source }}"},
            ],
        },
    ),
    Template(
        "deal_won_delivery_task",
        _("Deal won: create the delivery task"),
        _("When a deal is won (the contract is signed), the owner gets the delivery / onboarding task."),
        {
            "name": "赢单后创建交付任务", "object_type": "deal",
            "description": "商机进入赢单阶段（合同签订）时，为负责人创建交付/实施任务。",
            "trigger": {"type": "stage_changed", "outcome": "won"},
            "actions": [{"type": "create_task", "title": "交付启动：{{ deal.name }}（{{ customer.name }}）",
                         "description": "金额 {{ deal.amount }}", "due_in_hours": 48, "assignee": "owner"}],
        },
    ),
    Template(
        "discount_needs_approval",
        _("Discount over 15 percent: the manager, then the director and finance approve"),
        _("A deal given a discount above 15 percent goes through its approval flow (install the example "
          "discount flow under Approval flows first)."),
        {
            "name": "折扣超过15%需审批", "object_type": "deal",
            "description": "商机折扣超过15%时，提交审批：先由负责人的主管审批，再由销售总监和财务同时审批。",
            "trigger": {"type": "field_changed", "field": "discount_percent"},
            "conditions": {"all": [{"field": "discount_percent", "op": "gt", "value": 15}]},
            "actions": [{"type": "request_approval"}],
        },
    ),
]  # fmt: skip
BY_KEY = {t.key: t for t in TEMPLATES}
