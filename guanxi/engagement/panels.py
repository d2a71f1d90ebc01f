"""What engagement shows on the customer page (customers.panels): the follow-up form, open tasks and
cadences, the release-to-pool button, and follow-ups on the timeline. Registered by
EngagementConfig.ready()."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import translation

from guanxi.core.permissions import Perm
from guanxi.customers import panels
from guanxi.engagement.fields import follow_up_type_labels
from guanxi.engagement.forms import FollowUpForm
from guanxi.engagement.models import EnrollmentStatus, TaskStatus


def _follow_up_card(request, customer) -> dict[str, Any]:
    return {"follow_up_form": FollowUpForm()}


def _tasks_card(request, customer) -> dict[str, Any]:
    return {
        "open_tasks": customer.tasks.filter(status=TaskStatus.OPEN)
        .select_related("owner")
        .order_by("due_at")[:20],
        "enrollments": customer.cadences.filter(
            status__in=[EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED]
        ).select_related("cadence"),
    }


def _release_button(request, customer) -> dict[str, Any]:
    """The owner, or a user who may assign customers, may release an owned customer to the pool."""
    user = request.user
    owned = customer.owner_id is not None
    return {
        "can_release": owned and (customer.owner_id == user.pk or user.has_perm_code(Perm.CUSTOMER_ASSIGN))
    }


def _follow_up_entries(request, customer, limit: int) -> list[tuple[dt.datetime, Any]]:
    follow_ups = list(customer.follow_ups.select_related("author")[:limit])
    kinds = follow_up_type_labels()
    english = translation.get_language().startswith("en")
    for follow_up in follow_ups:
        zh, en = kinds.get(follow_up.kind, (follow_up.kind, follow_up.kind))
        follow_up.kind_label = en if english and en else zh
    return [(f.occurred_at, f) for f in follow_ups]


def register() -> None:
    panels.register_card("release_to_pool", "engagement/_customer_release.html", _release_button,
                         slot=panels.Slot.ACTIONS, order=10)  # fmt: skip
    panels.register_card(
        "follow_up_form", "engagement/_customer_follow_up_card.html", _follow_up_card, order=10
    )
    panels.register_card("open_tasks", "engagement/_customer_tasks_card.html", _tasks_card, order=20)
    panels.register_timeline_source(
        "follow_up", "engagement/_timeline_follow_up.html", _follow_up_entries, order=10
    )
