"""What the engagement actions share: reading form/API input, and creating a task.

`new_task()` is the one code path that creates Task rows (manual tasks, a follow-up's next step,
cadence steps), with the audit entry and the `task.created` event; callers run it inside their
own transaction after checking permission and scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core import audit
from guanxi.core.events import emit
from guanxi.core.models import AuditAction, User
from guanxi.engagement.events import EngagementEvent
from guanxi.engagement.models import Task, TaskPriority, TaskSource


def read_datetime(value: Any, field: str, errors: dict) -> dt.datetime | None:
    """An aware datetime from a datetime or ISO text; None when empty. A bad value adds a message
    to `errors[field]` and gives None."""
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


def read_text(value: Any, field: str, limit: int, errors: dict, *, required: bool = False) -> str:
    """Stripped text; a missing required value or one over `limit` adds a message to `errors[field]`."""
    text = "" if value is None else str(value).strip()
    if normalize.has_control_chars(text):  # NUL, lone surrogates...: the shared text-cleaning rule
        errors.setdefault(field, []).append(_("Must not contain control characters."))
    elif required and not text:
        errors.setdefault(field, []).append(_("This field is required."))
    elif len(text) > limit:
        errors.setdefault(field, []).append(_("Must be at most %(max)d characters.") % {"max": limit})
    return text


def new_task(spec: dict[str, Any], *, actor) -> Task:
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
