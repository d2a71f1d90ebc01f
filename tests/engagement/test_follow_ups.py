"""Follow-ups, tasks, cadences, and the overdue / escalation sweep (with a fake clock)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from guanxi.core.exceptions import NotFound
from guanxi.core.models import AuditEntry
from guanxi.engagement import sweeps
from guanxi.engagement.actions import cadences
from guanxi.engagement.actions import follow_ups as actions
from guanxi.engagement.models import Cadence, CadenceStep, EnrollmentStatus, FollowUp, Task, TaskStatus
from guanxi.messaging.models import Notification
from tests.factories import PASSWORD, make_customer

pytestmark = pytest.mark.django_db
NOW = timezone.make_aware(dt.datetime(2026, 3, 2, 10, 0))


def test_follow_up_with_next_step_creates_a_task_for_the_owner(org):
    customer = org.customers["c_e1"]
    follow_up = actions.log_follow_up(
        customer.pk,
        {"kind": "call", "content": "聊了报价", "outcome": "interested", "next_step": "发资料",
         "next_follow_up_at": NOW + dt.timedelta(days=3)},
        actor=org.manager_e, now=NOW,
    )  # fmt: skip
    customer.refresh_from_db()
    assert customer.last_follow_up_at == NOW
    task = Task.objects.get(customer=customer)
    assert (task.title, task.owner_id, task.due_at) == ("发资料", org.rep_e1.pk, NOW + dt.timedelta(days=3))
    assert AuditEntry.objects.filter(object_id=follow_up.pk, content_type__model="followup").count() == 1


def test_follow_up_validation_and_scope(org):
    customer = org.customers["c_e1"]
    with pytest.raises(ValidationError) as exc:
        actions.log_follow_up(customer.pk, {"kind": "fax", "content": "", "next_step": "x"}, actor=org.rep_e1)
    assert set(exc.value.message_dict) == {"kind", "content", "next_follow_up_at"}
    with pytest.raises(NotFound):
        actions.log_follow_up(org.customers["c_s1"].pk, {"kind": "call", "content": "hi"}, actor=org.rep_e1)
    assert FollowUp.objects.count() == 0


def test_task_completion_and_visibility(org):
    task = actions.create_task({"title": "回访", "due_at": NOW, "customer_id": org.customers["c_e1"].pk},
                               actor=org.rep_e1)  # fmt: skip
    with pytest.raises(NotFound):
        actions.complete_task(task.pk, actor=org.rep_e2)  # not theirs, scope "own"
    actions.complete_task(task.pk, actor=org.manager_e)  # manager of the owner
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE and task.completed_by_id == org.manager_e.pk
    with pytest.raises(ValidationError):
        actions.create_task(
            {"title": "给别人", "due_at": NOW, "owner_id": org.rep_s1.pk}, actor=org.manager_e
        )


def test_cadence_runs_steps_and_stops_when_the_customer_replies(org):
    cadence = Cadence.objects.create(name="新线索", lifecycle_stage="new")
    for position, (hours, title) in enumerate([(24, "首次电话"), (72, "上门拜访"), (168, "寄送资料")]):
        CadenceStep.objects.create(
            cadence=cadence, position=position, offset_hours=hours, kind="call", title=title
        )
    customer = make_customer(org.rep_e1, name="节奏客户", lifecycle_stage="new")
    enrollment = cadences.start_cadence(customer.pk, actor=None, now=NOW)
    assert cadences.start_cadence(customer.pk, actor=None, now=NOW) is None  # one at a time
    first = Task.objects.get(enrollment=enrollment)
    assert (first.title, first.due_at, first.owner_id) == (
        "首次电话",
        NOW + dt.timedelta(hours=24),
        org.rep_e1.pk,
    )
    actions.complete_task(first.pk, actor=org.rep_e1, now=NOW + dt.timedelta(hours=20))
    second = Task.objects.get(enrollment=enrollment, status=TaskStatus.OPEN)
    assert (second.title, second.due_at) == ("上门拜访", NOW + dt.timedelta(hours=72))
    actions.log_follow_up(customer.pk, {"kind": "wechat", "content": "客户回复了", "outcome": "replied"},
                          actor=org.rep_e1, now=NOW + dt.timedelta(hours=30))  # fmt: skip
    enrollment.refresh_from_db()
    assert enrollment.status == EnrollmentStatus.STOPPED and enrollment.stop_reason == "customer_replied"
    assert not Task.objects.filter(enrollment=enrollment, status=TaskStatus.OPEN).exists()


def test_pause_and_resume_slide_the_schedule(org):
    cadence = Cadence.objects.create(name="A 级", tier="A", repeat_every_days=2)
    CadenceStep.objects.create(cadence=cadence, position=0, offset_hours=48, kind="call", title="A 级回访")
    customer = make_customer(org.rep_e1, name="大客户", tier="A")
    enrollment = cadences.start_cadence(customer.pk, actor=org.rep_e1, now=NOW)
    cadences.set_cadence_state(enrollment.pk, "pause", actor=org.rep_e1, now=NOW + dt.timedelta(hours=10))
    assert not Task.objects.filter(enrollment=enrollment, status=TaskStatus.OPEN).exists()
    cadences.set_cadence_state(enrollment.pk, "resume", actor=org.rep_e1, now=NOW + dt.timedelta(hours=34))
    task = Task.objects.get(enrollment=enrollment, status=TaskStatus.OPEN)
    assert task.due_at == NOW + dt.timedelta(hours=48 + 24)
    actions.complete_task(task.pk, actor=org.rep_e1, now=NOW + dt.timedelta(hours=80))
    keep_in_touch = Task.objects.get(enrollment=enrollment, status=TaskStatus.OPEN)
    assert keep_in_touch.due_at == NOW + dt.timedelta(hours=80) + dt.timedelta(days=2)  # every 2 days for A


@pytest.mark.django_db(transaction=True)
def test_overdue_sweep_reminds_then_escalates_once(org, worker):
    customer = make_customer(org.rep_e1, name="逾期客户", tier="B")
    for i in range(3):
        actions.create_task({"title": f"任务{i}", "due_at": NOW - dt.timedelta(hours=1), "customer_id": customer.pk},
                            actor=org.rep_e1)  # fmt: skip
    with worker():  # the notifications are sent by messaging's subscribers in the worker
        result = sweeps.overdue_sweep(now=NOW)
    assert result == {"reminded_tasks": 3, "reminded_users": 1, "escalated_tasks": 0, "managers_notified": 0}
    assert Notification.objects.filter(recipient=org.rep_e1, kind="task_overdue").count() == 1  # one summary
    assert sweeps.overdue_sweep(now=NOW)["reminded_tasks"] == 0  # idempotent
    # Not yet time to escalate or to remind again (tier B: every 72 h).
    assert sweeps.overdue_sweep(now=NOW + dt.timedelta(hours=23))["escalated_tasks"] == 0
    with worker():
        later = sweeps.overdue_sweep(now=NOW + dt.timedelta(hours=25))
    assert later["escalated_tasks"] == 3 and later["managers_notified"] == 1 and later["reminded_tasks"] == 0
    notice = Notification.objects.get(recipient=org.manager_e, kind="task_escalated")
    assert str(org.rep_e1) in notice.title
    assert Task.objects.filter(escalated_to=org.manager_e).count() == 3
    assert sweeps.overdue_sweep(now=NOW + dt.timedelta(hours=26))["escalated_tasks"] == 0
    assert sweeps.overdue_sweep(now=NOW + dt.timedelta(hours=73))["reminded_tasks"] == 3  # B-tier repeat


def test_follow_up_page_and_today_page(org):
    client = Client()
    assert client.login(username=org.rep_e1.username, password=PASSWORD)
    customer = org.customers["c_e1"]
    # Due later today (the today page lists today's tasks), also late in the evening.
    now = timezone.localtime()
    end_of_day = now.replace(hour=23, minute=59, second=0, microsecond=0)
    due = max(now + dt.timedelta(minutes=1), min(now + dt.timedelta(hours=1), end_of_day)).strftime(
        "%Y-%m-%dT%H:%M"
    )
    response = client.post(f"/follow-up/customers/{customer.pk}/follow-up/",
                           {"kind": "visit", "content": "拜访了", "next_step": "报价", "next_follow_up_at": due})  # fmt: skip
    assert response.status_code == 302
    detail = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "拜访了" in detail and "报价" in detail
    today = client.get("/today/").content.decode()
    assert "报价" in today
    bad = client.post(f"/follow-up/customers/{customer.pk}/follow-up/", {"kind": "visit", "content": ""})
    assert bad.status_code == 200 and "invalid-feedback" in bad.content.decode()
    assert client.post(f"/follow-up/customers/{org.customers['c_s1'].pk}/follow-up/",
                       {"kind": "call", "content": "x"}).status_code == 404  # fmt: skip


def test_a_task_can_be_cancelled_from_the_page_and_a_cancelled_cadence_step_is_skipped(org):
    cadence = Cadence.objects.create(name="取消测试", lifecycle_stage="new")
    for position, (hours, title) in enumerate([(24, "首次电话"), (72, "上门拜访")]):
        CadenceStep.objects.create(
            cadence=cadence, position=position, offset_hours=hours, kind="call", title=title
        )
    customer = make_customer(org.rep_e1, name="取消客户", lifecycle_stage="new")
    enrollment = cadences.start_cadence(customer.pk, actor=None, now=NOW)
    first = Task.objects.get(enrollment=enrollment)
    cancel_url = reverse("engagement:cancel_task", args=[first.pk])
    other = Client()
    other.login(username="rep_e2", password=PASSWORD)
    assert other.post(cancel_url).status_code == 404  # not theirs: nothing changes
    first.refresh_from_db()
    assert first.status == TaskStatus.OPEN

    client = Client()
    client.login(username="rep_e1", password=PASSWORD)
    page = client.get(f"/customers/{customer.pk}/")
    assert f'action="{cancel_url}"'.encode() in page.content  # the page offers it
    response = client.post(cancel_url, {"next": f"/customers/{customer.pk}/"})
    assert response.status_code == 302 and response.url == f"/customers/{customer.pk}/"
    first.refresh_from_db()
    assert first.status == TaskStatus.CANCELLED and first.completed_at is None
    entry = AuditEntry.objects.get(object_id=first.pk, content_type__model="task", action="update")
    assert (entry.before, entry.after) == ({"status": "open"}, {"status": "cancelled"})
    second = Task.objects.get(enrollment=enrollment, status=TaskStatus.OPEN)
    assert second.title == "上门拜访"  # the cadence went on with its next step

    actions.complete_task(second.pk, actor=org.rep_e1)
    with pytest.raises(ValidationError):
        actions.cancel_task(second.pk, actor=org.rep_e1)  # a done task stays done
    second.refresh_from_db()
    assert second.status == TaskStatus.DONE
