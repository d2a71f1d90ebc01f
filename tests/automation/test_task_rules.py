"""Rules about tasks, through the real queue: a task is an object of the field registry with built-in
fields only; created, updated / field changed (an edit, completing, cancelling), relative time on the
due date and manual triggers; steps on the task itself (update a field, give it to someone, notify)
and on its customer (skipped when it has none); steps that do not fit a task refused at save."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from guanxi.automation.actions import engine, rules, sweeps
from guanxi.automation.models import RuleRun, RunStatus, TriggerType
from guanxi.core.models import AuditEntry, Event
from guanxi.customization import actions as customization
from guanxi.customization import registry as customfields
from guanxi.engagement.actions.follow_ups import cancel_task, complete_task, create_task, update_task
from guanxi.engagement.models import FollowUp, Task, TaskPriority
from guanxi.messaging.models import Notification
from tests.conftest import drain

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def chinese():
    """Templates show choice labels in the active language (another test may leave English on)."""
    with translation.override("zh-hans"):
        yield


def _rule(org, **data):
    return rules.save_rule(
        {"name": "任务规则", "object_type": "task", "enabled": True, **data}, actor=org.admin
    )


def _task(org, title, *, owner=None, customer="c_e1", due_in_hours=24, priority=TaskPriority.NORMAL):
    return create_task(
        {"title": title, "due_at": timezone.now() + dt.timedelta(hours=due_in_hours),
         "owner_id": (owner or org.rep_e1).pk, "priority": priority,
         "customer_id": org.customers[customer].pk if customer else None},
        actor=org.admin,
    )  # fmt: skip


def test_high_priority_task_created_notifies_the_owners_manager(org, queue):
    rule = _rule(org, trigger={"type": "created"},
                 conditions={"all": [{"field": "priority", "op": "in", "value": ["3", "4"]}]},
                 actions=[{"type": "notify", "to": ["owner_manager"],
                           "title": "高优先级任务：{{ task.title }} · {{ customer.name }} · {{ task.priority }}",
                           "body": "负责人 {{ task.owner }}"}])  # fmt: skip
    urgent = _task(org, "签合同", priority=TaskPriority.HIGH)
    _task(org, "寄资料")  # normal priority: no firing
    drain(queue)
    assert list(RuleRun.objects.filter(rule=rule).values_list("object_id", "status")) == [
        (urgent.pk, RunStatus.SUCCEEDED)
    ]
    note = Notification.objects.get(recipient=org.manager_e, kind="automation")
    assert (note.title, note.body) == ("高优先级任务：签合同 · 客户甲 · 高", "负责人 rep_e1")


def test_a_task_a_day_overdue_and_still_open_is_raised_and_its_manager_told(org, queue):
    rule = _rule(org, name="逾期一天",
                 trigger={"type": "relative_time", "field": "due_at", "days": 1, "window_days": 3},
                 conditions={"all": [{"field": "status", "op": "eq", "value": "open"}]},
                 actions=[{"type": "update_field", "field": "priority", "value": "4"},
                          {"type": "notify", "to": ["owner_manager"], "title": "任务逾期：{{ task.title }}（{{ task.priority }}）"}])  # fmt: skip
    late = _task(org, "逾期回访", due_in_hours=-30, customer=None)
    done = _task(org, "已完成", due_in_hours=-30)
    complete_task(done.pk, actor=org.rep_e1)
    _task(org, "刚逾期", due_in_hours=-2)  # overdue, but not by a day yet
    drain(queue)
    now = timezone.now()
    assert sweeps.sweep(now, kinds=(TriggerType.RELATIVE_TIME,))[str(rule.pk)] == {"due": 1, "queued": 1}
    sweeps.sweep(now + dt.timedelta(hours=1), kinds=(TriggerType.RELATIVE_TIME,))  # same date: not again
    drain(queue)
    late.refresh_from_db()
    assert late.priority == TaskPriority.URGENT
    assert list(RuleRun.objects.filter(rule=rule).values_list("object_id", flat=True)) == [late.pk]
    titles = list(
        Notification.objects.filter(recipient=org.manager_e, kind="automation").values_list(
            "title", flat=True
        )
    )
    assert titles == ["任务逾期：逾期回访（紧急）"]  # the template saw the new priority
    edit = Event.objects.get(name="task.updated", object_id=late.pk)
    assert edit.payload["before"] == {"priority": 2} and edit.payload["after"] == {"priority": 4}
    assert edit.request_id.startswith(f"rule:{rule.pk}:")
    entry = AuditEntry.objects.filter(object_id=str(late.pk), after__priority=4).get()
    assert entry.actor_id == org.admin.pk


def test_completing_a_task_is_a_status_change_to_done(org, queue):
    done_rule = _rule(org, name="完成", trigger={"type": "field_changed", "field": "status", "to": "done"},
                      actions=[{"type": "create_follow_up", "kind": "other", "content": "完成任务：{{ task.title }}"}])  # fmt: skip
    edited_rule = _rule(org, name="改期", trigger={"type": "updated", "fields": ["due_at"]},
                        actions=[{"type": "notify", "to": ["owner"], "title": "改期：{{ task.title }}"}])  # fmt: skip
    finished, dropped, moved = _task(org, "报价"), _task(org, "取消的"), _task(org, "改期的")
    drain(queue)
    complete_task(finished.pk, actor=org.rep_e1)
    cancel_task(dropped.pk, actor=org.rep_e1)
    update_task(moved.pk, {"title": "改期的"}, actor=org.rep_e1)  # nothing changed: no event
    update_task(moved.pk, {"due_at": timezone.now() + dt.timedelta(days=3)}, actor=org.rep_e1)
    drain(queue)
    assert list(RuleRun.objects.filter(rule=done_rule).values_list("object_id", flat=True)) == [finished.pk]
    assert list(FollowUp.objects.values_list("customer_id", "content")) == [
        (org.customers["c_e1"].pk, "完成任务：报价")
    ]
    assert list(RuleRun.objects.filter(rule=edited_rule).values_list("object_id", flat=True)) == [moved.pk]
    assert Notification.objects.filter(recipient=org.rep_e1, title="改期：改期的").count() == 1


def test_manual_run_gives_the_task_to_someone_and_skips_customer_steps_without_a_customer(org, queue):
    rule = _rule(org, trigger={"type": "manual"},
                 actions=[{"type": "assign_owner", "user_id": org.rep_e2.pk},
                          {"type": "add_tag", "tag": "转交"},
                          {"type": "notify", "to": ["owner"], "title": "{{ task.title }} 已转给你"}])  # fmt: skip
    task = _task(org, "无客户任务", customer=None)
    drain(queue)
    assert engine.run_manual(rule.pk, [task.pk], actor=org.admin) == {"selected": 1, "matched": 1, "fired": 1}
    drain(queue)
    task.refresh_from_db()
    assert task.owner_id == org.rep_e2.pk
    run = RuleRun.objects.get(rule=rule)
    assert [r["result"] for r in run.results][:2] == [{"owner": org.rep_e2.pk}, {"skipped": "no customer"}]
    assert Notification.objects.filter(recipient=org.rep_e2, title="无客户任务 已转给你").count() == 1


@pytest.mark.parametrize(
    "part, message",
    [
        ({"actions": [{"type": "update_field", "field": "status", "value": "done"}]},
         "Action 1 (Update a field): Update a field: status cannot be set by a rule."),
        ({"actions": [{"type": "assign_owner", "strategy": "assignment_rules"}]},
         "Action 1 (Assign or transfer the owner): Assign the owner: the lead assignment rules assign customers"),
        ({"actions": [{"type": "request_approval"}]},
         "Action 1 (Request an approval): Request an approval: records of this kind cannot be sent for approval."),
        ({"actions": [{"type": "notify", "to": ["owner"], "title": "{{ task.customer.name }}"}]},
         "unknown variable {{ task.customer.name }}"),
        ({"trigger": {"type": "stage_changed"}}, "This trigger is not available for this object: stage_changed."),
        ({"trigger": {"type": "deleted"}}, "This trigger is not available for this object: deleted."),
    ],
)  # fmt: skip
def test_what_does_not_fit_a_task_is_refused_at_save(org, part, message):
    data = {
        "trigger": {"type": "created"},
        "actions": [{"type": "notify", "to": ["owner"], "title": "x"}],
        **part,
    }
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        _rule(org, **data)
    assert message in " ".join(m for ms in exc.value.message_dict.values() for m in ms)


def test_a_task_has_built_in_fields_only(org, django_assert_num_queries):
    with django_assert_num_queries(0):  # no custom-field definitions to read
        registry = customfields.Registry("task")
    assert list(registry.builtin) == ["title", "description", "owner", "customer", "due_at", "priority",
                                      "status", "source", "created_at", "completed_at"]  # fmt: skip
    assert "task" not in customfields.registered_objects()  # no custom-field, layout or view page offers it
    with pytest.raises(ValidationError):
        customization.create_custom_field(
            {"object_type": "task", "key": "extra", "label_zh": "额外", "type": "text"}, actor=org.admin
        )
    assert Task.objects.count() == 0
