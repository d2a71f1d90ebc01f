"""Set-based sweeps of the follow-up engine: overdue reminders and escalation to the manager.

One query per tier and id range finds the tasks; one UPDATE marks them; people get one summary
notification per run (not one per task: one event per person, on which messaging's subscriber
sends the notification), so a rep with forty overdue tasks gets one reminder.
Idempotent: the marks are written with the same `now` the selection used, so a second run with the
same clock finds nothing to do.

No audit entries: the marks (`overdue_notified_at`, `escalated_at`) are the sweep's bookkeeping of
which reminders went out, derived from the clock and the tasks, not anybody's change of record;
the notifications themselves are the record of what people were told.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from guanxi.core import settings_store
from guanxi.core.events import emit_many
from guanxi.core.models import User
from guanxi.engagement.events import EngagementEvent
from guanxi.engagement.models import Task, TaskStatus


def _chunks(now: dt.datetime, chunk: int):
    """Id ranges covering the open overdue tasks (so several workers could share a sweep)."""
    bounds = (
        Task.objects.filter(status=TaskStatus.OPEN, due_at__lt=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    first = bounds.first()
    if first is None:
        return
    last = (
        Task.objects.filter(status=TaskStatus.OPEN, due_at__lt=now)
        .order_by("-pk")
        .values_list("pk", flat=True)[0]
    )
    for start in range(first, last + 1, chunk):
        yield start, start + chunk


def _tier_q(tier: str) -> Q:
    if tier:
        return Q(customer__tier=tier)
    return Q(customer__isnull=True) | Q(customer__tier="")


def overdue_sweep(now: dt.datetime | None = None, chunk: int = 100_000) -> dict[str, int]:
    """Remind owners of overdue tasks (repeating per tier interval) and escalate to managers."""
    now = now or timezone.now()
    intervals = settings_store.get("engagement.reminder_interval_hours")
    escalate_after = dt.timedelta(hours=settings_store.get("engagement.escalation_hours"))
    reminded: Counter[int] = Counter()
    escalated: Counter[tuple[int, int]] = Counter()
    for start, end in _chunks(now, chunk):
        with transaction.atomic():
            base = Task.objects.filter(pk__gte=start, pk__lt=end, status=TaskStatus.OPEN, due_at__lt=now)
            for tier, hours in intervals.items():
                due = base.filter(_tier_q(tier)).filter(
                    Q(overdue_notified_at__isnull=True)
                    | Q(overdue_notified_at__lte=now - dt.timedelta(hours=hours))
                )
                reminded.update(dict(Counter(due.values_list("owner_id", flat=True))))
                due.update(overdue_notified_at=now)
            waiting = base.filter(
                escalated_at__isnull=True,
                overdue_notified_at__lte=now - escalate_after,
                owner__manager__isnull=False,
            )
            escalated.update(Counter(waiting.values_list("owner__manager_id", "owner_id")))
            for manager_id in {m for m, _o in escalated}:
                waiting.filter(owner__manager_id=manager_id).update(
                    escalated_at=now, escalated_to_id=manager_id
                )
    _notify_reminders(reminded, now)
    _notify_escalations(escalated, now)
    return {
        "reminded_tasks": sum(reminded.values()),
        "reminded_users": len(reminded),
        "escalated_tasks": sum(escalated.values()),
        "managers_notified": len({m for m, _o in escalated}),
    }


def _notify_reminders(counts: Counter[int], now: dt.datetime) -> None:
    """One `task.overdue` event per owner (messaging's subscriber sends the one summary)."""
    with transaction.atomic():
        emit_many(
            EngagementEvent.TASKS_OVERDUE,
            [
                (User(pk=user_id), {"owner_id": user_id, "count": count, "at": now})
                for user_id, count in counts.items()
            ],
        )


def _notify_escalations(counts: Counter[tuple[int, int]], now: dt.datetime) -> None:
    """One `task.escalated` event per (manager, owner) (messaging's subscriber tells the manager)."""
    with transaction.atomic():
        emit_many(
            EngagementEvent.TASKS_ESCALATED,
            [
                (
                    User(pk=manager_id),
                    {"manager_id": manager_id, "owner_id": owner_id, "count": count, "at": now},
                )
                for (manager_id, owner_id), count in counts.items()
            ],
        )
