"""Events of the follow-up engine, public pools and lead assignment: names and payload fields (the
catalogue, see core/events.py). Notifications about them are sent by messaging's subscribers."""

from django.db import models

from guanxi.core.events import declare


class EngagementEvent(models.TextChoices):
    FOLLOW_UP_LOGGED = "follow_up.logged"
    TASK_CREATED = "task.created"
    # Title, description, due time, priority or owner edited; before/after as audited.
    TASK_UPDATED = "task.updated"
    TASK_COMPLETED = "task.completed"
    TASK_CANCELLED = "task.cancelled"
    CADENCE_STARTED = "cadence.started"
    CADENCE_ENDED = "cadence.ended"
    # One per owner and overdue-sweep run: `count` of their tasks became (again) overdue at `at`.
    TASKS_OVERDUE = "task.overdue"
    # One per (manager, owner) and sweep run: `count` of the owner's overdue tasks escalated at `at`.
    TASKS_ESCALATED = "task.escalated"


class PoolEvent(models.TextChoices):
    # One summary event per pool and sweep run (not one per customer: a sweep may move 100,000
    # customers). Its payload says when; the OwnershipChange rows with `at` = that time and
    # reason "reclaimed" are the detail.
    RECLAIMED = "pool.reclaimed"
    # One per owner and local day: `count` customers return to the pool within `days` days.
    WARNING = "pool.warning"


class AssignmentEvent(models.TextChoices):
    CUSTOMER_ASSIGNED = "customer.assigned"  # declared by the customers app
    LEAD_UNASSIGNABLE = "lead.unassignable"
    LEAD_RESPONSE_OVERDUE = "lead.response_overdue"
    CUSTOMERS_TRANSFERRED = "customers.transferred"
    HANDOVER_COMPLETED = "handover.completed"


declare(EngagementEvent.FOLLOW_UP_LOGGED, "customer_id")
declare(EngagementEvent.TASK_CREATED, "owner_id")
declare(EngagementEvent.TASK_UPDATED, "owner_id", "changed", "before", "after")
# Completing and cancelling carry the status change as audited (automation's "status changed to done").
declare(EngagementEvent.TASK_COMPLETED, "owner_id", "before", "after")
declare(EngagementEvent.TASK_CANCELLED, "owner_id", "before", "after")
declare(EngagementEvent.CADENCE_STARTED, "customer_id")
declare(EngagementEvent.CADENCE_ENDED, "reason")
declare(EngagementEvent.TASKS_OVERDUE, "owner_id", "count", "at")
declare(EngagementEvent.TASKS_ESCALATED, "manager_id", "owner_id", "count", "at")

declare(PoolEvent.RECLAIMED, "pool_id", "count", "at")
declare(PoolEvent.WARNING, "owner_id", "pool_id", "count", "days", "names", "day")

declare(AssignmentEvent.LEAD_UNASSIGNABLE, "reason", "rule_id")
declare(AssignmentEvent.LEAD_RESPONSE_OVERDUE, "assignment_id", "owner_id", "manager_id", "customer_id")
declare(AssignmentEvent.CUSTOMERS_TRANSFERRED, "to_user_id", "customer_ids", "task_ids")
declare(AssignmentEvent.HANDOVER_COMPLETED, "from_user_id", "to_user_id", "customers", "tasks", "deals")
