"""Follow-up and task actions (跟进记录 / 任务): recording a follow-up on a customer; manual tasks
with one responsible user, completing and cancelling them.

A follow-up updates the customer's `last_follow_up_at` (read by the pool's reclaim sweep), stops
the first-response clock of a new lead, turns its next step into a task for the owner, and a reply
from the customer stops the customer's cadences. Completing or cancelling a cadence step
schedules the cadence's next step (`cadences.py`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.converters import as_id, as_int
from guanxi.core.events import emit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, User
from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users
from guanxi.customers.actions import get_for_write
from guanxi.customers.models import Customer
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject
from guanxi.engagement.actions.assignment import record_first_response
from guanxi.engagement.actions.cadences import end_enrollment, schedule_next_step
from guanxi.engagement.actions.common import new_task, read_datetime, read_text
from guanxi.engagement.events import EngagementEvent
from guanxi.engagement.fields import follow_up_types
from guanxi.engagement.models import (
    CadenceEnrollment,
    EnrollmentStatus,
    FollowUp,
    FollowUpOutcome,
    Task,
    TaskPriority,
    TaskSource,
    TaskStatus,
)


@transaction.atomic
def log_follow_up(
    customer_id: int, data: dict[str, Any], *, actor, now: dt.datetime | None = None
) -> FollowUp:
    """Record a follow-up on a customer the actor may see; its next step becomes a task for the owner."""
    require(actor, Perm.CUSTOMER_VIEW)
    now = now or timezone.now()
    customer = get_for_write(customer_id, actor=actor)
    errors: dict[str, list[str]] = {}
    kind = data.get("kind")
    if kind not in {key for key, _zh, _en in follow_up_types()}:
        errors.setdefault("kind", []).append(_("Select a valid choice."))
    outcome = data.get("outcome") or ""
    if outcome and outcome not in FollowUpOutcome.values:
        errors.setdefault("outcome", []).append(_("Select a valid choice."))
    content = read_text(data.get("content"), "content", 5000, errors, required=True)
    next_step = read_text(data.get("next_step"), "next_step", 200, errors)
    occurred_at = read_datetime(data.get("occurred_at"), "occurred_at", errors) or now
    if occurred_at > now + dt.timedelta(minutes=5):
        errors.setdefault("occurred_at", []).append(_("A follow-up cannot be in the future."))
    next_at = read_datetime(data.get("next_follow_up_at"), "next_follow_up_at", errors)
    if next_at is not None and next_at < occurred_at:
        errors.setdefault("next_follow_up_at", []).append(_("The next follow-up must be after this one."))
    if next_step and next_at is None:
        errors.setdefault("next_follow_up_at", []).append(_("Give the next step a date."))
    custom, custom_errors = customfields.Registry(CustomObject.FOLLOW_UP).clean(
        data.get("custom_fields"), creating=True, actor=actor
    )
    errors.update(custom_errors)
    if errors:
        raise ValidationError(errors)
    follow_up = FollowUp.objects.create(
        custom_fields=custom,
        customer=customer,
        author=actor,
        kind=kind,
        content=content,
        outcome=outcome,
        next_step=next_step,
        next_follow_up_at=next_at,
        occurred_at=occurred_at,
    )
    if customer.last_follow_up_at is None or occurred_at > customer.last_follow_up_at:
        customer.last_follow_up_at = occurred_at
        customer.save(update_fields=["last_follow_up_at"])
    record_first_response(customer.pk, occurred_at)
    if next_at is not None:
        new_task(
            {
                "title": next_step or _("Follow up"),
                "due_at": next_at,
                "customer": customer,
                "owner": customer.owner or actor,
                "source": TaskSource.FOLLOW_UP,
            },
            actor=actor,
        )
    if outcome == FollowUpOutcome.CUSTOMER_REPLIED:
        for enrollment in CadenceEnrollment.objects.filter(
            customer=customer, status__in=[EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED]
        ):
            end_enrollment(enrollment, EnrollmentStatus.STOPPED, "customer_replied", actor=actor, now=now)
    audit.record(
        AuditAction.CREATE,
        follow_up,
        actor=actor,
        before=None,
        after={
            "customer": customer.pk,
            "kind": kind,
            "outcome": outcome,
            "next_follow_up_at": next_at,
            **({"custom_fields": custom} if custom else {}),
        },
    )
    emit(EngagementEvent.FOLLOW_UP_LOGGED, follow_up, actor=actor, payload={"customer_id": customer.pk})
    return follow_up


# --- tasks -------------------------------------------------------------------------------------


@transaction.atomic
def create_task(data: dict[str, Any], *, actor) -> Task:
    """A manual task with one responsible user (one the actor may hand work to)."""
    require(actor, Perm.CUSTOMER_VIEW)
    errors: dict[str, list[str]] = {}
    title = read_text(data.get("title"), "title", 200, errors, required=True)
    description = read_text(data.get("description"), "description", 5000, errors)
    due_at = read_datetime(data.get("due_at"), "due_at", errors)
    if due_at is None and "due_at" not in errors:
        errors["due_at"] = [_("This field is required.")]
    priority = data.get("priority") or TaskPriority.NORMAL
    if int(priority) not in TaskPriority.values:
        errors.setdefault("priority", []).append(_("Select a valid choice."))
    owner = actor
    if (
        data.get("owner_id") not in (None, "")
        and actor is not None
        and str(data["owner_id"]) != str(actor.pk)
    ):
        owner = assignable_users(actor).filter(pk=data["owner_id"]).first()
        if owner is None:
            errors.setdefault("owner_id", []).append(_("Select a user within your data scope."))
    customer = None
    if data.get("customer_id") not in (None, ""):
        customer = Customer.objects.visible_to(actor).alive().filter(pk=data["customer_id"]).first()
        if customer is None:
            errors.setdefault("customer_id", []).append(_("Select a customer you can see."))
    if errors:
        raise ValidationError(errors)
    return new_task(
        {"title": title, "description": description, "due_at": due_at, "owner": owner, "customer": customer,
         "priority": int(priority)},
        actor=actor,
    )  # fmt: skip


def _task_for_write(task_id: int, *, actor) -> Task:
    task = Task.objects.visible_to(actor).select_for_update(of=("self",)).filter(pk=task_id).first()
    if task is None:
        raise NotFound(task_id)
    return task


# What `update_task` may change; the status changes through `complete_task` and `cancel_task`.
TASK_EDITABLE = ("title", "description", "due_at", "priority", "owner_id")


def _task_state(task: Task) -> dict[str, Any]:
    return {"title": task.title, "description": task.description, "due_at": task.due_at,
            "priority": task.priority, "owner": task.owner_id}  # fmt: skip


@transaction.atomic
def update_task(task_id: int, data: dict[str, Any], *, actor) -> Task:
    """Edit a task (only the keys given): title, description, due time, priority, or the responsible
    user (`owner_id`, one the actor may hand work to). A new due time starts the overdue reminders
    over. Nothing changed: no audit entry, no event."""
    task = _task_for_write(task_id, actor=actor)
    errors: dict[str, list[str]] = {}
    for key in sorted(set(data) - set(TASK_EDITABLE)):
        errors.setdefault(key, []).append(_("This field cannot be changed here."))
    before = _task_state(task)
    if "title" in data:
        task.title = read_text(data["title"], "title", 200, errors, required=True)
    if "description" in data:
        task.description = read_text(data["description"], "description", 5000, errors)
    if "due_at" in data:
        due_at = read_datetime(data["due_at"], "due_at", errors)
        if due_at is None and "due_at" not in errors:
            errors["due_at"] = [_("This field is required.")]
        task.due_at = due_at or task.due_at
    if "priority" in data:
        priority = as_int(data["priority"])
        if priority not in TaskPriority.values:
            errors.setdefault("priority", []).append(_("Select a valid choice."))
        else:
            task.priority = priority
    if "owner_id" in data:
        owner_id = as_id(data["owner_id"])
        owner = assignable_users(actor).filter(pk=owner_id).first() if owner_id else None
        if owner is None:
            errors.setdefault("owner_id", []).append(_("Select a user within your data scope."))
        else:
            task.owner = owner
    if errors:
        raise ValidationError(errors)
    changed_before, changed_after = audit.diff(before, _task_state(task))
    if not changed_after:
        return task
    if "due_at" in changed_after:
        task.overdue_notified_at = task.escalated_at = task.escalated_to = None
    task.save()
    audit.record(AuditAction.UPDATE, task, actor=actor, before=changed_before, after=changed_after)
    emit(EngagementEvent.TASK_UPDATED, task, actor=actor,
         payload={"owner_id": task.owner_id, "changed": sorted(changed_after), "before": changed_before,
                  "after": changed_after})  # fmt: skip
    return task


@transaction.atomic
def complete_task(task_id: int, *, actor, now: dt.datetime | None = None) -> Task:
    """Mark a task done (its owner, or anyone whose data scope covers the owner). Advances its cadence."""
    now = now or timezone.now()
    task = _task_for_write(task_id, actor=actor)
    if task.status == TaskStatus.DONE:
        return task
    if task.status != TaskStatus.OPEN:
        raise ValidationError({"status": [_("Only open tasks can be completed.")]})
    task.status = TaskStatus.DONE
    task.completed_at = now
    task.completed_by = actor if isinstance(actor, User) else None
    task.save(update_fields=["status", "completed_at", "completed_by"])
    before, after = {"status": "open", "completed_at": None}, {"status": "done", "completed_at": now}
    audit.record(AuditAction.UPDATE, task, actor=actor, before=before, after=after)
    emit(EngagementEvent.TASK_COMPLETED, task, actor=actor,
         payload={"owner_id": task.owner_id, "before": before, "after": after})  # fmt: skip
    if task.enrollment_id:
        enrollment = CadenceEnrollment.objects.select_for_update().get(pk=task.enrollment_id)
        if enrollment.status == EnrollmentStatus.ACTIVE:
            schedule_next_step(enrollment, actor=actor, now=now)
    return task


@transaction.atomic
def cancel_task(task_id: int, *, actor, now: dt.datetime | None = None) -> Task:
    """Cancel an open task that is no longer needed (same rights as completing it). A cancelled
    cadence step is skipped: the cadence goes on with its next step, as after a completed one."""
    now = now or timezone.now()
    task = _task_for_write(task_id, actor=actor)
    if task.status == TaskStatus.CANCELLED:
        return task
    if task.status != TaskStatus.OPEN:
        raise ValidationError({"status": [_("Only open tasks can be cancelled.")]})
    task.status = TaskStatus.CANCELLED
    task.save(update_fields=["status"])
    before, after = {"status": "open"}, {"status": "cancelled"}
    audit.record(AuditAction.UPDATE, task, actor=actor, before=before, after=after)
    emit(EngagementEvent.TASK_CANCELLED, task, actor=actor,
         payload={"owner_id": task.owner_id, "before": before, "after": after})  # fmt: skip
    if task.enrollment_id:
        enrollment = CadenceEnrollment.objects.select_for_update().get(pk=task.enrollment_id)
        if enrollment.status == EnrollmentStatus.ACTIVE:
            schedule_next_step(enrollment, actor=actor, now=now)
    return task
