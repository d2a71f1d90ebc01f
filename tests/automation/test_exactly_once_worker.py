"""Acceptance 1 of issue 10: a relative-time rule ("30 days after the last order: email the owner and
create a task") fires exactly once per matching customer through crashes.

A real worker process runs the sweep; it is killed with SIGKILL in the middle of the first run; a new
worker runs the sweep twice more. Every matching customer ends with exactly one run-log row, one task
and one email (counted on a real aiosmtpd server on loopback), and the others with none. On SQLite +
the SQLite queue and on PostgreSQL + Redis. The number of customers is `GUANXI_EXACTLY_ONCE_CUSTOMERS`
(default 10,000, the issue's size: about 2.5 minutes per backend)."""

from __future__ import annotations

import datetime as dt
import decimal
import email
import email.policy
import os

import pytest
from django.utils import timezone

from guanxi.automation import tasks as automation_tasks
from guanxi.automation.actions import rules
from guanxi.automation.models import RuleRun, RunStatus
from guanxi.customers.models import Customer
from guanxi.engagement.models import Task
from guanxi.messaging import actions as messaging
from guanxi.messaging.models import Delivery, DeliveryStatus
from guanxi.sales.models import Order, OrderStatus
from tests.messaging.conftest import smtp_server  # noqa: F401  (the fixture: a real SMTP server)
from tests.worker_processes import Workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

CUSTOMERS = int(os.environ.get("GUANXI_EXACTLY_ONCE_CUSTOMERS", "10000"))
SUBJECT = "30天未复购提醒"


def _customers(org, n: int) -> tuple[set[int], set[int]]:
    """n customers of four reps, each with one paid order: even ones 30 days ago (due), odd ones 3
    days ago (not due). Test set-up, written in bulk."""
    reps = [org.rep_e1, org.rep_e2, org.rep_s1, org.manager_e]
    now = timezone.now()
    customers = Customer.objects.bulk_create(
        [Customer(name=f"客户{i}", owner=reps[i % 4], owned_since=now, created_at=now, updated_at=now)
         for i in range(n)],
        batch_size=2000,
    )  # fmt: skip
    ids = [c.pk for c in customers]
    Order.objects.bulk_create(
        [Order(customer_id=pk, number=f"EO-{pk}", status=OrderStatus.PAID, amount=decimal.Decimal("10"),
               ordered_at=now - dt.timedelta(days=30 if i % 2 == 0 else 3, hours=1)) for i, pk in enumerate(ids)],
        batch_size=2000,
    )  # fmt: skip
    return {pk for i, pk in enumerate(ids) if i % 2 == 0}, {pk for i, pk in enumerate(ids) if i % 2 == 1}


def _succeeded() -> int:
    return RuleRun.objects.filter(status=RunStatus.SUCCEEDED).count()


def test_a_relative_time_rule_fires_exactly_once_through_a_killed_worker(org, queue, smtp_server):  # noqa: F811
    for n, user in enumerate([org.rep_e1, org.rep_e2, org.rep_s1, org.manager_e]):
        type(user).objects.filter(pk=user.pk).update(email=f"rep{n}@example.com")
    due, not_due = _customers(org, CUSTOMERS)
    rules.save_rule(
        {"name": "30天未复购", "object_type": "customer", "enabled": True,
         "trigger": {"type": "relative_time", "field": "last_order_at", "days": 30, "window_days": 3},
         "actions": [{"type": "notify", "to": ["owner"], "title": SUBJECT, "body": "{{ customer.name }}"},
                     {"type": "create_task", "title": "复购回访 {{ customer.name }}", "due_in_hours": 24}]},
        actor=org.admin,
    )  # fmt: skip
    workers = Workers({
        "GUANXI_WORKERS": "1",  # one thread: the kill lands in the sweep, not in an SMTP conversation
        "GUANXI_TEST_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "GUANXI_EMAIL_HOST": smtp_server.host, "GUANXI_EMAIL_PORT": str(smtp_server.port),
    })  # fmt: skip
    timeout = 120 + CUSTOMERS * 0.05
    try:
        first = workers.start()
        automation_tasks.run_relative_time_rules_now()
        workers.wait_for("a quarter of the firings", lambda: _succeeded() >= len(due) // 4, timeout)
        workers.kill(first)
        fired_before_kill = _succeeded()
        assert fired_before_kill < len(due), "the kill must land in the middle of the run"
        workers.start()
        automation_tasks.run_relative_time_rules_now()
        automation_tasks.run_relative_time_rules_now()
        workers.wait_for("every due customer to fire", lambda: _succeeded() >= len(due), timeout)

        def emails_sent() -> bool:
            messaging.queue_due_deliveries()  # the periodic retry sweep (a delivery the kill interrupted)
            return not Delivery.objects.filter(channel="email").exclude(
                status=DeliveryStatus.SENT
            ).exists() and (len(queue) == 0)

        workers.wait_for("every email to be sent", emails_sent, timeout)
    finally:
        workers.kill_all()

    runs = list(RuleRun.objects.values_list("object_id", "status"))
    assert len(runs) == len(due) and {pk for pk, _status in runs} == due
    assert {status for _pk, status in runs} == {RunStatus.SUCCEEDED}
    tasks = list(Task.objects.filter(title__startswith="复购回访").values_list("customer_id", flat=True))
    assert len(tasks) == len(due) and set(tasks) == due
    subjects = [email.message_from_bytes(m.original_content, policy=email.policy.default)["subject"]
                for m in smtp_server.messages]  # fmt: skip
    assert subjects.count(SUBJECT) == len(due), (subjects.count(SUBJECT), len(due), fired_before_kill)
    assert not RuleRun.objects.filter(object_id__in=not_due).exists()
