"""Reads of the follow-up engine, always through the user's data scope."""

from __future__ import annotations

import datetime as dt

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q
from django.utils import timezone

from guanxi.customers.models import Customer, LifecycleStage
from guanxi.engagement.actions.reclaim import customers_at_risk
from guanxi.engagement.models import Assignment, Task, TaskStatus


def today_for(user, now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    end_of_day = timezone.localtime(now).replace(hour=23, minute=59, second=59)
    mine = Task.objects.filter(owner=user, status=TaskStatus.OPEN).select_related("customer")
    since = now - dt.timedelta(days=30)
    responses = Assignment.objects.filter(owner=user, assigned_at__gte=since)
    stats = responses.aggregate(
        leads=Count("id"),
        answered=Count("id", filter=Q(first_response_at__isnull=False)),
        breached=Count("id", filter=Q(first_response_at__gt=F("first_response_due_at"))
                       | Q(first_response_at__isnull=True, first_response_due_at__lt=now)),
        average=Avg(ExpressionWrapper(F("first_response_at") - F("assigned_at"), output_field=DurationField()),
                    filter=Q(first_response_at__isnull=False)),
    )  # fmt: skip
    _pool, at_risk_of_reclaim = customers_at_risk(user, now=now)
    return {
        "now": now,
        "about_to_return": at_risk_of_reclaim[:20],
        "overdue": list(mine.filter(due_at__lt=now).order_by("due_at")[:50]),
        "due_today": list(mine.filter(due_at__gte=now, due_at__lte=end_of_day).order_by("due_at")[:50]),
        "new_leads": list(
            Assignment.objects.filter(owner=user, first_response_at__isnull=True, customer__owner=user)
            .select_related("customer")
            .order_by("first_response_due_at")[:20]
        ),
        "at_risk": list(
            Customer.objects.alive()
            .filter(owner=user, lifecycle_stage=LifecycleStage.AT_RISK)
            .order_by("-id")[:20]
        ),
        "response": {
            **stats,
            "average_minutes": round(stats["average"].total_seconds() / 60) if stats["average"] else None,
        },
    }


def team_overdue(user, now: dt.datetime | None = None) -> list[dict]:
    """Overdue tasks of everyone in the user's data scope but the user, grouped by owner."""
    now = now or timezone.now()
    tasks = (
        Task.objects.visible_to(user)
        .filter(status=TaskStatus.OPEN, due_at__lt=now)
        .exclude(owner=user)
        .select_related("owner", "customer")
        .order_by("owner_id", "due_at")[:500]
    )
    groups: dict[int, dict] = {}
    for task in tasks:
        group = groups.setdefault(task.owner_id, {"owner": task.owner, "tasks": []})
        group["tasks"].append(task)
    return sorted(groups.values(), key=lambda g: -len(g["tasks"]))
