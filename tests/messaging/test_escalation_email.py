"""Issue 4, acceptance 3 end to end: an overdue task reminds its owner by email, and after the
escalation delay its owner's manager; a real SMTP server (aiosmtpd) receives both."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest
from django.test import override_settings
from django.utils import timezone

from guanxi.engagement import sweeps
from guanxi.engagement.actions import follow_ups as actions
from guanxi.messaging.models import Delivery, DeliveryStatus
from tests.conftest import drain

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
NOW = timezone.make_aware(dt.datetime(2026, 5, 6, 10, 0))


def test_overdue_task_emails_owner_then_manager(org, queue, smtp_server):
    org.rep_e1.email, org.manager_e.email = "rep_e1@example.com", "manager_e@example.com"
    org.rep_e1.save(update_fields=["email"])
    org.manager_e.save(update_fields=["email"])
    actions.create_task({"title": "回访报价", "due_at": NOW - dt.timedelta(hours=2),
                         "customer_id": org.customers["c_e1"].pk}, actor=org.rep_e1)  # fmt: skip
    drain(queue)
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                           EMAIL_HOST=smtp_server.host, EMAIL_PORT=smtp_server.port):  # fmt: skip
        sweeps.overdue_sweep(now=NOW)
        drain(queue)
        assert [m.rcpt_tos for m in smtp_server.messages] == [["rep_e1@example.com"]]
        sweeps.overdue_sweep(now=NOW + dt.timedelta(hours=12))  # before the delay: nothing new
        drain(queue)
        assert len(smtp_server.messages) == 1
        sweeps.overdue_sweep(now=NOW + dt.timedelta(hours=25))  # after the 24 h escalation delay
        drain(queue)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["rep_e1@example.com"], ["manager_e@example.com"]]
    subject = email.message_from_bytes(smtp_server.messages[1].content, policy=email.policy.default)[
        "Subject"
    ]
    assert str(org.rep_e1) in subject  # "<rep> has 1 task(s) overdue"
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
