"""Cadence actions (跟进规范): enrolling a customer, scheduling each step as a task, pausing,
resuming and stopping, and the won deal that ends a customer's cadences.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.events import emit
from guanxi.core.exceptions import NotFound
from guanxi.core.models import AuditAction
from guanxi.customers.actions import get_for_write
from guanxi.customers.models import Customer
from guanxi.engagement.actions.common import new_task
from guanxi.engagement.events import EngagementEvent
from guanxi.engagement.models import (
    Cadence,
    CadenceEnrollment,
    EnrollmentStatus,
    Task,
    TaskSource,
    TaskStatus,
)


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
    schedule_next_step(enrollment, actor=actor, now=now)
    return enrollment


def schedule_next_step(enrollment: CadenceEnrollment, *, actor, now: dt.datetime) -> Task | None:
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
        end_enrollment(enrollment, EnrollmentStatus.FINISHED, "completed", actor=actor, now=now)
        return None
    if owner is None:
        return None  # a pool customer has nobody to do the step; the cadence resumes when claimed
    title = step.title if enrollment.next_position <= len(steps) else _("Keep in touch")
    return new_task(
        {"title": title, "due_at": due, "customer": customer, "owner": owner, "source": TaskSource.CADENCE,
         "enrollment": enrollment, "step_position": position},
        actor=actor,
    )  # fmt: skip


def end_enrollment(
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
        schedule_next_step(enrollment, actor=actor, now=now)
    elif state == "stop":
        end_enrollment(enrollment, EnrollmentStatus.STOPPED, "stopped_by_user", actor=actor, now=now)
    elif state not in ("pause", "resume"):
        raise ValidationError({"state": [_("Select a valid choice.")]})
    return enrollment


def stop_cadences_on_won_deal(customer_id: int, *, actor) -> None:
    """A won deal ends the customer's running cadences (subscribed to `deal.stage_changed` in tasks.py)."""
    for enrollment in CadenceEnrollment.objects.filter(
        customer_id=customer_id, status__in=[EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED]
    ):
        end_enrollment(enrollment, EnrollmentStatus.STOPPED, "deal_won", actor=actor, now=timezone.now())
