"""Follow-up actions: follow-up records, tasks and cadences (跟进记录 / 任务 / 跟进规范).

Pools live in `pool.py`, lead assignment and handover in `assignment.py`; all three are the only
code that writes their models, with the same rules as every action (permission and scope first,
one transaction, audit entry, domain event, nothing written when nothing changes).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core import audit, customfields
from guanxi.core.events import emit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, CustomObject, User
from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users
from guanxi.customers.actions import get_for_write
from guanxi.customers.models import Customer
from guanxi.engagement.events import EngagementEvent
from guanxi.engagement.fields import follow_up_types
from guanxi.engagement.models import (
    Cadence,
    CadenceEnrollment,
    EnrollmentStatus,
    FollowUp,
    FollowUpOutcome,
    Task,
    TaskPriority,
    TaskSource,
    TaskStatus,
)


def _when(value: Any, field: str, errors: dict) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        parsed = parse_datetime(str(value))
        if parsed is None:
            try:
                parsed = dt.datetime.fromisoformat(str(value))
            except ValueError:
                errors.setdefault(field, []).append(_("Enter a valid date and time."))
                return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _text(value: Any, field: str, limit: int, errors: dict, *, required: bool = False) -> str:
    text = "" if value is None else str(value).strip()
    if normalize.has_control_chars(text):  # NUL, lone surrogates...: the shared text-cleaning rule
        errors.setdefault(field, []).append(_("Must not contain control characters."))
    elif required and not text:
        errors.setdefault(field, []).append(_("This field is required."))
    elif len(text) > limit:
        errors.setdefault(field, []).append(_("Must be at most %(max)d characters.") % {"max": limit})
    return text


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
    content = _text(data.get("content"), "content", 5000, errors, required=True)
    next_step = _text(data.get("next_step"), "next_step", 200, errors)
    occurred_at = _when(data.get("occurred_at"), "occurred_at", errors) or now
    if occurred_at > now + dt.timedelta(minutes=5):
        errors.setdefault("occurred_at", []).append(_("A follow-up cannot be in the future."))
    next_at = _when(data.get("next_follow_up_at"), "next_follow_up_at", errors)
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
    _record_first_response(customer.pk, occurred_at)
    if next_at is not None:
        _create_task(
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
            _end_enrollment(enrollment, EnrollmentStatus.STOPPED, "customer_replied", actor=actor, now=now)
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


def _record_first_response(customer_id: int, at: dt.datetime) -> None:
    try:
        from guanxi.engagement.assignment import record_first_response
    except ImportError:  # lead assignment not installed
        return
    record_first_response(customer_id, at)


def _create_task(spec: dict[str, Any], *, actor) -> Task:
    task = Task.objects.create(
        title=spec["title"][:200],
        description=spec.get("description", ""),
        owner=spec["owner"],
        customer=spec.get("customer"),
        due_at=spec["due_at"],
        priority=spec.get("priority", TaskPriority.NORMAL),
        source=spec.get("source", TaskSource.MANUAL),
        enrollment=spec.get("enrollment"),
        step_position=spec.get("step_position"),
        created_by=actor if isinstance(actor, User) else None,
    )
    audit.record(
        AuditAction.CREATE,
        task,
        actor=actor,
        before=None,
        after={
            "title": task.title,
            "owner": task.owner_id,
            "due_at": task.due_at,
            "customer": task.customer_id,
        },
    )
    emit(EngagementEvent.TASK_CREATED, task, actor=actor, payload={"owner_id": task.owner_id})
    return task


@transaction.atomic
def create_task(data: dict[str, Any], *, actor) -> Task:
    """A manual task with one responsible user (one the actor may hand work to)."""
    require(actor, Perm.CUSTOMER_VIEW)
    errors: dict[str, list[str]] = {}
    title = _text(data.get("title"), "title", 200, errors, required=True)
    description = _text(data.get("description"), "description", 5000, errors)
    due_at = _when(data.get("due_at"), "due_at", errors)
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
    return _create_task(
        {"title": title, "description": description, "due_at": due_at, "owner": owner, "customer": customer,
         "priority": int(priority)},
        actor=actor,
    )  # fmt: skip


def _task_for_write(task_id: int, *, actor) -> Task:
    task = Task.objects.visible_to(actor).select_for_update(of=("self",)).filter(pk=task_id).first()
    if task is None:
        raise NotFound(task_id)
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
    audit.record(AuditAction.UPDATE, task, actor=actor, before={"status": "open"}, after={"status": "done"})
    emit(EngagementEvent.TASK_COMPLETED, task, actor=actor, payload={"owner_id": task.owner_id})
    if task.enrollment_id:
        enrollment = CadenceEnrollment.objects.select_for_update().get(pk=task.enrollment_id)
        if enrollment.status == EnrollmentStatus.ACTIVE:
            _schedule_next_step(enrollment, actor=actor, now=now)
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
    audit.record(
        AuditAction.UPDATE, task, actor=actor, before={"status": "open"}, after={"status": "cancelled"}
    )
    emit(EngagementEvent.TASK_CANCELLED, task, actor=actor, payload={"owner_id": task.owner_id})
    if task.enrollment_id:
        enrollment = CadenceEnrollment.objects.select_for_update().get(pk=task.enrollment_id)
        if enrollment.status == EnrollmentStatus.ACTIVE:
            _schedule_next_step(enrollment, actor=actor, now=now)
    return task


# --- cadences -----------------------------------------------------------------------------------


def matching_cadence(customer: Customer) -> Cadence | None:
    """The most specific active cadence for the customer's tier and lifecycle stage."""
    candidates = Cadence.objects.filter(is_active=True, tier__in=["", customer.tier],
                                        lifecycle_stage__in=["", customer.lifecycle_stage])  # fmt: skip
    return min(candidates, key=lambda c: (not c.tier, not c.lifecycle_stage, c.pk), default=None)


@transaction.atomic
def start_cadence(
    customer_id: int, cadence_id: int | None = None, *, actor, now: dt.datetime | None = None
) -> CadenceEnrollment | None:
    """Enrol a customer in a cadence (the matching one when none is given); the first step becomes a task.
    Returns None when no cadence applies or one is already running for this customer."""
    now = now or timezone.now()
    customer = get_for_write(customer_id, actor=actor)
    cadence = (
        Cadence.objects.filter(pk=cadence_id, is_active=True).first()
        if cadence_id
        else matching_cadence(customer)
    )
    if cadence is None or not cadence.steps.exists():
        return None
    if CadenceEnrollment.objects.filter(
        customer=customer, cadence=cadence, status__in=[EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED]
    ).exists():
        return None
    enrollment = CadenceEnrollment.objects.create(customer=customer, cadence=cadence, started_at=now)
    audit.record(AuditAction.CREATE, enrollment, actor=actor, before=None, after={"cadence": cadence.pk})
    emit(EngagementEvent.CADENCE_STARTED, enrollment, actor=actor, payload={"customer_id": customer.pk})
    _schedule_next_step(enrollment, actor=actor, now=now)
    return enrollment


def _schedule_next_step(enrollment: CadenceEnrollment, *, actor, now: dt.datetime) -> Task | None:
    steps = list(enrollment.cadence.steps.order_by("position"))
    customer = enrollment.customer
    owner = customer.owner
    if enrollment.next_position < len(steps):
        step = steps[enrollment.next_position]
        due = max(enrollment.started_at + dt.timedelta(hours=step.offset_hours), now)
        position = enrollment.next_position
        enrollment.next_position += 1
        enrollment.save(update_fields=["next_position"])
    elif enrollment.cadence.repeat_every_days:
        step = steps[-1] if steps else None
        due = now + dt.timedelta(days=enrollment.cadence.repeat_every_days)
        position = enrollment.next_position
    else:
        _end_enrollment(enrollment, EnrollmentStatus.FINISHED, "completed", actor=actor, now=now)
        return None
    if owner is None:
        return None  # a pool customer has nobody to do the step; the cadence resumes when claimed
    title = step.title if enrollment.next_position <= len(steps) else _("Keep in touch")
    return _create_task(
        {"title": title, "due_at": due, "customer": customer, "owner": owner, "source": TaskSource.CADENCE,
         "enrollment": enrollment, "step_position": position},
        actor=actor,
    )  # fmt: skip


def _end_enrollment(
    enrollment: CadenceEnrollment, status: str, reason: str, *, actor, now: dt.datetime
) -> None:
    enrollment.status = status
    enrollment.ended_at = now
    enrollment.stop_reason = reason
    enrollment.save(update_fields=["status", "ended_at", "stop_reason"])
    Task.objects.filter(enrollment=enrollment, status=TaskStatus.OPEN).update(status=TaskStatus.CANCELLED)
    audit.record(AuditAction.UPDATE, enrollment, actor=actor, before={"status": "active"},
                 after={"status": status, "reason": reason})  # fmt: skip
    emit(EngagementEvent.CADENCE_ENDED, enrollment, actor=actor, payload={"reason": reason})


@transaction.atomic
def set_cadence_state(
    enrollment_id: int, state: str, *, actor, now: dt.datetime | None = None
) -> CadenceEnrollment:
    """Pause, resume or stop a running cadence."""
    now = now or timezone.now()
    enrollment = (
        CadenceEnrollment.objects.select_for_update()
        .filter(pk=enrollment_id, customer__in=Customer.objects.visible_to(actor))
        .first()
    )
    if enrollment is None:
        raise NotFound(enrollment_id)
    if enrollment.status in (EnrollmentStatus.FINISHED, EnrollmentStatus.STOPPED):
        raise ValidationError({"state": [_("This cadence has already ended.")]})
    if state == "pause" and enrollment.status == EnrollmentStatus.ACTIVE:
        enrollment.status, enrollment.paused_at = EnrollmentStatus.PAUSED, now
        enrollment.save(update_fields=["status", "paused_at"])
        Task.objects.filter(enrollment=enrollment, status=TaskStatus.OPEN).update(status=TaskStatus.CANCELLED)
        enrollment.next_position = max(enrollment.next_position - 1, 0)  # redo the interrupted step
        enrollment.save(update_fields=["next_position"])
        audit.record(
            AuditAction.UPDATE,
            enrollment,
            actor=actor,
            before={"status": "active"},
            after={"status": "paused"},
        )
    elif state == "resume" and enrollment.status == EnrollmentStatus.PAUSED:
        paused_for = now - (enrollment.paused_at or now)
        enrollment.status, enrollment.paused_at = EnrollmentStatus.ACTIVE, None
        enrollment.started_at += paused_for  # the schedule slides by the pause
        enrollment.save(update_fields=["status", "paused_at", "started_at"])
        audit.record(
            AuditAction.UPDATE,
            enrollment,
            actor=actor,
            before={"status": "paused"},
            after={"status": "active"},
        )
        _schedule_next_step(enrollment, actor=actor, now=now)
    elif state == "stop":
        _end_enrollment(enrollment, EnrollmentStatus.STOPPED, "stopped_by_user", actor=actor, now=now)
    elif state not in ("pause", "resume"):
        raise ValidationError({"state": [_("Select a valid choice.")]})
    return enrollment


def stop_cadences_on_won_deal(customer_id: int, *, actor) -> None:
    """A won deal ends the customer's running cadences (subscribed to `deal.stage_changed` in tasks.py)."""
    for enrollment in CadenceEnrollment.objects.filter(
        customer_id=customer_id, status__in=[EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED]
    ):
        _end_enrollment(enrollment, EnrollmentStatus.STOPPED, "deal_won", actor=actor, now=timezone.now())
