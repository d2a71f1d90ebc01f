"""Lead assignment (线索分配): a new lead gets an owner by the first matching rule.

The only code that writes assignments (the first-response clocks). Same rules as every action:
permission and data scope first, one transaction, audit entries, a domain event, nothing written
when nothing changes. Rules themselves (matching and editing) are `assignment_rules.py`; handover
and bulk transfer are `handover.py`.

The first active rule (by position) whose conditions match a new lead picks one of its eligible
reps (active, not away, on duty, under capacity) by round robin, least loaded or weighted by recent
conversion. The lead gets an owner (through `customers.ownership.change_owner`: ownership history,
audit entry and a `customer.assigned` event, on which messaging's subscriber tells the rep) and a
first-response clock (`Assignment`). The rule row is locked while a lead is assigned, so concurrent
workers keep round robin even and capacity exact within a rule. A lead nobody can take stays
unowned; the reason is logged and emitted as a `lead.unassignable` event (a hook for automation,
e.g. "tell the sales director"), and the waiting-lead sweep retries it quietly when reps come on
duty.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import models, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from guanxi.core.events import emit, emit_many
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import User
from guanxi.core.permissions import Perm
from guanxi.customers.actions import get_for_write
from guanxi.customers.models import Customer, LifecycleStage
from guanxi.customers.ownership import change_owner
from guanxi.engagement.actions.assignment_rules import CONDITION_KEYS, active_rules, match_rule
from guanxi.engagement.events import AssignmentEvent
from guanxi.engagement.models import (
    Assignment,
    AssignmentRule,
    AssignmentStrategy,
    OwnershipChange,
    OwnershipReason,
)

log = logging.getLogger(__name__)

# A lead is a customer in one of these stages; a rep's open leads (capacity) are the live
# customers they own in them.
LEAD_STAGES = (LifecycleStage.POTENTIAL, LifecycleStage.NEW)
# A lead converted when its customer reached one of these stages.
CONVERTED_STAGES = (LifecycleStage.ACTIVE, LifecycleStage.WON_BACK)
# Weighted strategy: conversion over the assignments of the last 90 days before today; every rep
# weighs at least WEIGHT_FLOOR so new reps (no history) still get leads.
CONVERSION_WINDOW = dt.timedelta(days=90)
WEIGHT_FLOOR = 0.1
# The waiting-lead sweep retries never-owned leads created in the last days (e.g. at night).
WAITING_LEAD_DAYS = 3
CHUNK = 500


class Unassignable(models.TextChoices):
    NO_RULE = "no_rule"
    NO_ELIGIBLE_REP = "no_eligible_rep"


# --------------------------------------------------------------------------- rules: eligibility


def _minutes(value: Any) -> int | None:
    """ "09:30" -> 570; "24:00" -> 1440; None when unreadable."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", str(value))
    if not match:
        return None
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


def is_on_duty(user: User, now: dt.datetime) -> bool:
    """Within the user's working hours in local time (settings.TIME_ZONE); no schedule = always.

    {"days": [0..6] (Monday = 0), "start": "09:00", "end": "18:00"}; a shift whose end is before its
    start runs over midnight and belongs to the day it starts. An unreadable schedule counts as no
    schedule (logged), so a typo never silently starves a rep.
    """
    schedule = user.work_schedule
    if not schedule:
        return True
    local = timezone.localtime(now)
    try:
        days = {int(d) for d in schedule.get("days", range(7))}
    except (AttributeError, TypeError, ValueError):
        log.warning("user %s has an unreadable work schedule %r", user.pk, schedule)
        return True
    start, end = _minutes(schedule.get("start", "00:00")), _minutes(schedule.get("end", "24:00"))
    if start is None or end is None:
        log.warning("user %s has an unreadable work schedule %r", user.pk, schedule)
        return True
    minute = local.hour * 60 + local.minute + local.second / 60
    weekday = local.weekday()
    if start < end:
        return weekday in days and start <= minute < end
    if start == end:  # around the clock on the listed days
        return weekday in days
    return (weekday in days and minute >= start) or ((weekday - 1) % 7 in days and minute < end)


def is_available(user: User, now: dt.datetime) -> bool:
    if not user.is_active:
        return False
    if user.away_until is not None and user.away_until > now:
        return False
    return is_on_duty(user, now)


def open_lead_counts(user_ids: Iterable[int]) -> dict[int, int]:
    """Open leads per user: live customers they own in a lead stage (one grouped query)."""
    rows = (
        Customer.objects.filter(
            owner_id__in=list(user_ids), deleted_at__isnull=True, lifecycle_stage__in=LEAD_STAGES
        )
        .order_by()
        .values("owner_id")
        .annotate(n=Count("pk"))
    )
    return {row["owner_id"]: row["n"] for row in rows}


def eligible_reps(rule: AssignmentRule, now: dt.datetime | None = None) -> list[User]:
    """Members who may take a lead now, in stable id order, each with `open_leads` set:
    active, not away, on duty and under capacity (`lead_capacity` open leads; None = unlimited)."""
    now = now or timezone.now()
    members = [u for u in rule.members.filter(is_active=True).order_by("pk") if is_available(u, now)]
    loads = open_lead_counts(u.pk for u in members)
    reps = []
    for user in members:
        user.open_leads = loads.get(user.pk, 0)
        if user.lead_capacity is None or user.open_leads < user.lead_capacity:
            reps.append(user)
    return reps


# --------------------------------------------------------------------------- rules: strategies


def _local_day_start(now: dt.datetime) -> dt.datetime:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def conversion_weights(reps: Sequence[User], now: dt.datetime) -> dict[int, float]:
    """Each rep's share of leads assigned in the 90 days before today that converted, floored.

    Today's assignments are left out, so the weights stay fixed while today's leads are spread."""
    day_start = _local_day_start(now)
    rows = (
        Assignment.objects.filter(
            owner_id__in=[r.pk for r in reps],
            assigned_at__gte=day_start - CONVERSION_WINDOW,
            assigned_at__lt=day_start,
        )
        .order_by()
        .values("owner_id")
        .annotate(
            total=Count("pk"), won=Count("pk", filter=Q(customer__lifecycle_stage__in=CONVERTED_STAGES))
        )
    )
    rates = {row["owner_id"]: row["won"] / row["total"] for row in rows if row["total"]}
    return {rep.pk: max(WEIGHT_FLOOR, rates.get(rep.pk, 0.0)) for rep in reps}


def _pick_round_robin(rule: AssignmentRule, reps: Sequence[User]) -> User:
    """The next eligible member after the last one assigned, in id order (wrapping round)."""
    if rule.last_assigned_id is not None:
        for rep in reps:
            if rep.pk > rule.last_assigned_id:
                return rep
    return reps[0]


def _pick_least_loaded(reps: Sequence[User]) -> User:
    return min(reps, key=lambda r: (r.open_leads, r.pk))


def _pick_weighted(rule: AssignmentRule, reps: Sequence[User], now: dt.datetime) -> User:
    """Deterministic proportional allocation (sequential largest remainder): of today's leads of
    this rule, give the next one to the rep furthest below their weighted share."""
    weights = conversion_weights(reps, now)
    received = Counter(
        dict(
            Assignment.objects.filter(
                rule=rule, owner_id__in=[r.pk for r in reps], assigned_at__gte=_local_day_start(now)
            )
            .order_by()
            .values_list("owner_id")
            .annotate(n=Count("pk"))
        )
    )
    total_weight = sum(weights.values())
    total = sum(received.values()) + 1
    return max(reps, key=lambda r: (weights[r.pk] / total_weight * total - received[r.pk], -r.pk))


def pick_rep(rule: AssignmentRule, reps: Sequence[User], now: dt.datetime) -> User:
    if rule.strategy == AssignmentStrategy.LEAST_LOADED:
        return _pick_least_loaded(reps)
    if rule.strategy == AssignmentStrategy.WEIGHTED:
        return _pick_weighted(rule, reps, now)
    return _pick_round_robin(rule, reps)


# --------------------------------------------------------------------------- assigning leads


def _record_unassignable(
    customer: Customer, reason: str, rule: AssignmentRule | None, *, actor, record: bool
) -> None:
    log.info("lead %s not assigned: %s (rule %s)", customer.pk, reason, rule.pk if rule else None)
    if record:
        emit(
            AssignmentEvent.LEAD_UNASSIGNABLE,
            customer,
            actor=actor,
            payload={"reason": reason, "rule_id": rule.pk if rule else None},
        )


@transaction.atomic
def assign_lead(
    customer_id: int,
    *,
    actor=None,
    now: dt.datetime | None = None,
    rules: Sequence[AssignmentRule] | None = None,
    record_unassignable: bool = True,
) -> Assignment | None:
    """Give an unowned lead to a rep by its matching rule. Returns None when the customer already has
    an owner or sits in a public pool (nothing written), or when no rule matches / nobody is eligible:
    the customer stays unowned, the reason is logged and (unless `record_unassignable` is off, as in
    the retry sweep) emitted as a `lead.unassignable` event. `rules` lets batches load rules once."""
    require(actor, Perm.CUSTOMER_ASSIGN)
    now = now or timezone.now()
    customer = get_for_write(customer_id, actor=actor)
    if customer.owner_id is not None or customer.pool_id is not None:
        return None
    rule = match_rule(customer, rules)
    if rule is not None:
        # The lock serialises assignments per rule: round robin stays even and capacity exact.
        rule = AssignmentRule.objects.select_for_update().filter(pk=rule.pk, is_active=True).first()
    if rule is None:
        _record_unassignable(customer, Unassignable.NO_RULE, None, actor=actor, record=record_unassignable)
        return None
    reps = eligible_reps(rule, now)
    if not reps:
        _record_unassignable(
            customer, Unassignable.NO_ELIGIBLE_REP, rule, actor=actor, record=record_unassignable
        )
        return None
    rep = pick_rep(rule, reps, now)

    # The rule's members were checked against the data scope of whoever saved the rule.
    change_owner(
        [customer.pk], rep, reason=OwnershipReason.ASSIGNED, actor=actor, now=now, check_permission=False
    )
    customer.refresh_from_db(fields=["owner", "owned_since", "pool", "updated_at"])
    assignment = Assignment.objects.create(
        customer=customer,
        owner=rep,
        rule=rule,
        assigned_at=now,
        first_response_due_at=now + dt.timedelta(minutes=rule.first_response_minutes),
    )
    rule.last_assigned = rep
    rule.save(update_fields=["last_assigned"])
    return assignment


def assign_leads(
    customer_ids: Iterable[int],
    *,
    actor=None,
    now: dt.datetime | None = None,
    record_unassignable: bool = True,
) -> dict[str, Any]:
    """Assign many leads, each in its own short transaction (rules are read once)."""
    rules = active_rules()
    assigned: Counter[int] = Counter()
    not_assigned = 0
    for customer_id in customer_ids:
        try:
            assignment = assign_lead(
                customer_id, actor=actor, now=now, rules=rules, record_unassignable=record_unassignable
            )
        except NotFound:
            assignment = None
        if assignment is None:
            not_assigned += 1
        else:
            assigned[assignment.owner_id] += 1
    return {"assigned": sum(assigned.values()), "not_assigned": not_assigned, "by_owner": dict(assigned)}


def waiting_leads(now: dt.datetime | None = None):
    """Recent never-owned leads outside any pool: what the waiting-lead sweep retries."""
    now = now or timezone.now()
    return Customer.objects.filter(
        owner__isnull=True,
        pool__isnull=True,
        deleted_at__isnull=True,
        lifecycle_stage__in=LEAD_STAGES,
        created_at__gte=now - dt.timedelta(days=WAITING_LEAD_DAYS),
    ).exclude(Exists(OwnershipChange.objects.filter(customer=OuterRef("pk"))))


def assign_waiting_leads(now: dt.datetime | None = None, limit: int = 1000) -> dict[str, Any]:
    """Retry leads that found nobody (e.g. arrived at night) once their rule has someone on duty;
    at most `limit` attempts per run (leads of rules still without anyone are not attempted)."""
    now = now or timezone.now()
    rules = active_rules()
    open_rules = {rule.pk for rule in rules if eligible_reps(rule, now)}
    ids: list[int] = []
    if open_rules:
        for customer in waiting_leads(now).order_by("pk").only(*CONDITION_KEYS).iterator(chunk_size=CHUNK):
            rule = match_rule(customer, rules)
            if rule is not None and rule.pk in open_rules:
                ids.append(customer.pk)
                if len(ids) >= limit:
                    break
    return (
        assign_leads(ids, now=now, record_unassignable=False)
        if ids
        else {"assigned": 0, "not_assigned": 0, "by_owner": {}}
    )


def record_first_response(customer_id: int, at: dt.datetime) -> int:
    """Stop the first-response clock of the customer's open assignment (called when a follow-up is
    logged). One conditional UPDATE; idempotent. Returns how many clocks stopped."""
    return Assignment.objects.filter(customer_id=customer_id, first_response_at__isnull=True).update(
        first_response_at=at
    )


def breach_sweep(now: dt.datetime | None = None, chunk: int = CHUNK) -> dict[str, int]:
    """Tell the manager (and the rep) about each lead not contacted by its first-response target.

    One set-based query per chunk finds assignments past due, without a first response or a breach
    notice, whose customer is still live and with that rep; each is marked once (idempotent; rows
    locked by a concurrent run are skipped on PostgreSQL)."""
    now = now or timezone.now()
    due = Assignment.objects.filter(
        first_response_at__isnull=True,
        breach_notified_at__isnull=True,
        first_response_due_at__lte=now,
        customer__owner_id=F("owner_id"),
        customer__deleted_at__isnull=True,
    )
    breaches = managers = 0
    while True:
        with transaction.atomic():
            batch = list(
                due.select_related("owner__manager", "customer")
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")[:chunk]
            )
            if not batch:
                break
            emit_many(
                AssignmentEvent.LEAD_RESPONSE_OVERDUE,
                [
                    (assignment, {"assignment_id": assignment.pk, "owner_id": assignment.owner_id,
                                  "manager_id": assignment.owner.manager_id, "customer_id": assignment.customer_id})
                    for assignment in batch
                ],
            )  # fmt: skip
            managers += sum(1 for assignment in batch if assignment.owner.manager_id is not None)
            Assignment.objects.filter(pk__in=[a.pk for a in batch]).update(breach_notified_at=now)
            breaches += len(batch)
    return {"breaches": breaches, "managers_notified": managers}
