"""Lead assignment (线索分配) and handover (离职交接 / 批量转移).

The only code that writes assignment rules, assignments and handovers, and that moves customers
between owners in bulk. Same rules as every action: permission and data scope first, one
transaction, audit entries, a domain event, nothing written when nothing changes.

Assignment: the first active rule (by position) whose conditions match a new lead picks one of its
eligible reps (active, not away, on duty, under capacity) by round robin, least loaded or weighted
by recent conversion. The lead gets an owner, a first-response clock (`Assignment`), an ownership
history row, an audit entry and a `customer.assigned` event (on which messaging's subscriber tells
the rep). The rule row is locked while a lead is assigned, so concurrent workers keep round robin even and capacity exact
within a rule. A lead nobody can take stays unowned; the reason is logged and emitted as a
`lead.unassignable` event (a hook for automation, e.g. "tell the sales director"), and the
waiting-lead sweep retries it quietly when reps come on duty.

Handover: every live customer and open task of one user moves to another in one transaction with
ownership history, one audit entry per moved row, a `Handover` summary and one event (on
which messaging notifies the receiver). A failure anywhere leaves nothing moved.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core import audit
from guanxi.core.events import emit, emit_many
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, User
from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users, user_scope_q
from guanxi.customers.actions import get_for_write
from guanxi.customers.models import Channel, Customer, LifecycleStage, Tier
from guanxi.customers.ownership import change_owner
from guanxi.engagement.events import AssignmentEvent
from guanxi.engagement.models import (
    Assignment,
    AssignmentRule,
    AssignmentStrategy,
    Handover,
    OwnershipChange,
    OwnershipReason,
    Task,
    TaskStatus,
)
from guanxi.sales import actions as sales_actions

log = logging.getLogger(__name__)

# A lead is a customer in one of these stages; a rep's open leads (capacity) are the live
# customers they own in them.
LEAD_STAGES = (LifecycleStage.POTENTIAL, LifecycleStage.NEW)
# A lead converted when its customer reached one of these stages.
CONVERTED_STAGES = (LifecycleStage.ACTIVE, LifecycleStage.WON_BACK)
CONDITION_KEYS = ("source", "province", "city", "industry", "tier")
# Weighted strategy: conversion over the assignments of the last 90 days before today; every rep
# weighs at least WEIGHT_FLOOR so new reps (no history) still get leads.
CONVERSION_WINDOW = dt.timedelta(days=90)
WEIGHT_FLOOR = 0.1
# The waiting-lead sweep retries never-owned leads created in the last days (e.g. at night).
WAITING_LEAD_DAYS = 3
MAX_FIRST_RESPONSE_MINUTES = 30 * 24 * 60
MAX_TRANSFER = 5000
CHUNK = 500


class Unassignable(models.TextChoices):
    NO_RULE = "no_rule"
    NO_ELIGIBLE_REP = "no_eligible_rep"


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _user_or_none(actor) -> User | None:
    return actor if isinstance(actor, User) else None


# --------------------------------------------------------------------------- rules: matching


_REGION_SUFFIXES = (
    "特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "地区", "省", "市",
)  # fmt: skip


def fold_condition_value(key: str, value: Any) -> str:
    """Compare condition values loosely: traditional/simplified, case, and 浙江省 == 浙江."""
    text = normalize.to_simplified(str(value or "")).strip().casefold()
    if key in ("province", "city"):
        for suffix in _REGION_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix) + 1:
                return text[: -len(suffix)]
    return text


def rule_matches(rule: AssignmentRule, customer: Customer) -> bool:
    """Every condition holds: each is a list of allowed values, an empty list allows anything.
    An unknown key never matches (a typo must not turn a narrow rule into a catch-all)."""
    conditions = rule.conditions or {}
    if not isinstance(conditions, dict):
        return False
    for key, allowed in conditions.items():
        if key not in CONDITION_KEYS:
            log.warning("assignment rule %s has an unknown condition %r", rule.pk, key)
            return False
        if isinstance(allowed, str):
            allowed = [allowed]
        if not allowed:
            continue
        value = fold_condition_value(key, getattr(customer, key))
        if value not in {fold_condition_value(key, a) for a in allowed}:
            return False
    return True


def active_rules() -> list[AssignmentRule]:
    return list(AssignmentRule.objects.filter(is_active=True).order_by("position", "pk"))


def match_rule(customer: Customer, rules: Sequence[AssignmentRule] | None = None) -> AssignmentRule | None:
    """The first active rule by position whose conditions all match the customer."""
    for rule in active_rules() if rules is None else rules:
        if rule.is_active and rule_matches(rule, customer):
            return rule
    return None


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


# --------------------------------------------------------------------------- rules: editing


def _split_values(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = re.split(r"[,，、;；\n]+", raw)
    return [str(v).strip() for v in raw if str(v).strip()]


def check_members_in_scope(user_ids: Iterable[int], *, actor) -> None:
    ids = set(user_ids)
    if actor is not None and ids - set(
        assignable_users(actor).filter(pk__in=ids).values_list("pk", flat=True)
    ):
        raise PermissionDenied(_("This rule includes reps outside your data scope."))


def clean_rule_input(data: dict[str, Any], *, actor) -> dict[str, Any]:
    """Validate rule input from the page or the API. Raises ValidationError (a message per field)."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    try:
        cleaned["name"] = normalize.clean_text(str(data.get("name") or ""), max_length=100)
    except normalize.NormalizationError as exc:
        errors["name"] = [
            _("This field is required.")
            if exc.code == "empty"
            else _("Must be at most %(max)d characters.") % {"max": 100}
        ]
    strategy = data.get("strategy") or AssignmentStrategy.ROUND_ROBIN
    if strategy not in AssignmentStrategy.values:
        errors["strategy"] = [_("Select a valid choice.")]
    cleaned["strategy"] = strategy
    limits = {"position": (0, 32767, 0), "first_response_minutes": (1, MAX_FIRST_RESPONSE_MINUTES, 120)}
    for field, (low, high, default) in limits.items():
        raw = data.get(field)
        value = default if raw in (None, "") else (int(raw) if str(raw).strip().isdigit() else None)
        if value is None or not low <= value <= high:
            errors[field] = [
                _("Enter a whole number between %(low)d and %(high)d.") % {"low": low, "high": high}
            ]
        cleaned[field] = value
    cleaned["is_active"] = bool(data.get("is_active", True))

    raw_conditions = data.get("conditions") or {}
    conditions: dict[str, list[str]] = {}
    if not isinstance(raw_conditions, dict):
        errors["conditions"] = [_("Invalid value.")]
        raw_conditions = {}
    for key in sorted(set(raw_conditions) - set(CONDITION_KEYS)):
        errors.setdefault("conditions", []).append(_("Unknown condition: %(key)s.") % {"key": key})
    choices = {"source": Channel.values, "tier": Tier.values}
    for key in CONDITION_KEYS:
        raw = raw_conditions.get(key)
        values = list(dict.fromkeys(_split_values(raw)))
        if key == "tier" and isinstance(raw, list | tuple) and "" in raw:
            values = ["", *values]  # "not tiered" is a value of its own
        if key in choices:
            bad = [v for v in values if v not in choices[key]]
            if bad:
                errors.setdefault(key, []).append(
                    _("Unknown value: %(values)s.") % {"values": ", ".join(bad)}
                )
        elif any(len(v) > 50 or "<" in v or ">" in v for v in values):
            errors.setdefault(key, []).append(_("Each value must be at most 50 characters, without < or >."))
        conditions[key] = values
    cleaned["conditions"] = conditions

    member_ids = []
    for raw in data.get("member_ids") or []:
        if not str(raw).isdigit():
            errors.setdefault("member_ids", []).append(_("Select active users."))
            break
        member_ids.append(int(raw))
    member_ids = sorted(set(member_ids))
    found = set(User.objects.filter(pk__in=member_ids, is_active=True).values_list("pk", flat=True))
    if len(found) != len(member_ids):
        errors.setdefault("member_ids", []).append(_("Select active users."))
    elif not member_ids:
        errors.setdefault("member_ids", []).append(_("Select at least one rep."))
    cleaned["member_ids"] = member_ids
    if errors:
        raise ValidationError(errors)
    check_members_in_scope(member_ids, actor=actor)
    return cleaned


def rule_snapshot(rule: AssignmentRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "position": rule.position,
        "is_active": rule.is_active,
        "strategy": rule.strategy,
        "conditions": rule.conditions,
        "first_response_minutes": rule.first_response_minutes,
        "member_ids": sorted(rule.members.values_list("pk", flat=True)) if rule.pk else [],
    }


def _rule_for_write(rule_id: int, *, actor) -> AssignmentRule:
    rule = AssignmentRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(rule_id)
    check_members_in_scope(rule.members.values_list("pk", flat=True), actor=actor)
    return rule


@transaction.atomic
def save_rule(data: dict[str, Any], *, actor, rule_id: int | None = None) -> AssignmentRule:
    """Create or change an assignment rule. Only holders of customer.assign whose data scope covers
    every member (old and new) may do it."""
    require(actor, Perm.CUSTOMER_ASSIGN)
    rule = _rule_for_write(rule_id, actor=actor) if rule_id is not None else AssignmentRule()
    cleaned = clean_rule_input(data, actor=actor)
    before = rule_snapshot(rule) if rule.pk else None
    for field in ("name", "position", "is_active", "strategy", "conditions", "first_response_minutes"):
        setattr(rule, field, cleaned[field])
    rule.save()
    rule.members.set(cleaned["member_ids"])
    after = rule_snapshot(rule)
    if before is None:
        audit.record(AuditAction.CREATE, rule, actor=actor, before=None, after=after)
        return rule
    b, a = audit.diff(before, after)
    if a:
        audit.record(AuditAction.UPDATE, rule, actor=actor, before=b, after=a)
    return rule


@transaction.atomic
def delete_rule(rule_id: int, *, actor) -> None:
    """Delete a rule; its past assignments keep their history (their rule becomes empty)."""
    require(actor, Perm.CUSTOMER_ASSIGN)
    rule = _rule_for_write(rule_id, actor=actor)
    before = rule_snapshot(rule)
    audit.record(AuditAction.DELETE, rule, actor=actor, before=before, after=None)
    rule.delete()


# --------------------------------------------------------------------------- handover and transfer


def handover_sources(actor):
    """Users whose records the actor may hand over: anyone in the actor's data scope, including
    deactivated accounts (a departed rep is usually deactivated before the handover)."""
    q = user_scope_q(actor)
    users = User.objects.all()
    return users if q is None else users.filter(q)


def handover_preview(from_user_id: int, *, actor, include_tasks: bool = True) -> dict[str, Any]:
    """What a handover of this user would move (read only)."""
    require(actor, Perm.CUSTOMER_ASSIGN)
    from_user = handover_sources(actor).filter(pk=from_user_id).first()
    if from_user is None:
        raise NotFound(from_user_id)
    return {
        "from_user": from_user,
        "customers": Customer.objects.alive().filter(owner=from_user).count(),
        "tasks": Task.objects.filter(owner=from_user, status=TaskStatus.OPEN).count() if include_tasks else 0,
        "deals": sales_actions.open_deals_of(from_user).count(),
        "rules": list(
            AssignmentRule.objects.filter(members=from_user, is_active=True).values_list("name", flat=True)
        ),
    }


class _Moved(NamedTuple):
    """A locked row about to change hands: its id, label, previous owner and (customers) pool."""

    pk: int
    label: str
    owner_id: int | None
    pool_id: int | None = None


def _move_tasks(rows: Sequence[_Moved], to_user: User, *, actor) -> None:
    """Give locked open tasks to `to_user`, one audit entry each."""
    for part in _chunks([row.pk for row in rows]):
        Task.objects.filter(pk__in=part).update(owner=to_user)
    audit.record_many(
        AuditAction.UPDATE,
        ((Task(id=row.pk, title=row.label), {"owner": row.owner_id}, {"owner": to_user.pk}) for row in rows),
        actor=actor,
    )


def _move_deals(from_user: User, to_user: User, *, actor, now: dt.datetime) -> list[int]:
    """The open deals of `from_user` follow the handover (sales' own action writes them, with an
    audit entry and a `deal.updated` event per deal), inside the handover transaction."""
    return sales_actions.reassign_open_deals(from_user, to_user, actor=actor, now=now)


@transaction.atomic
def handover(
    from_user_id: int, to_user_id: int, *, actor, include_tasks: bool = True, now: dt.datetime | None = None
) -> Handover:
    """Employee-departure handover (离职交接): every live customer, open task (and open deal) of one
    user moves to another in ONE transaction, with ownership history, one audit entry per moved
    row, a Handover summary and a `handover.completed` event (messaging tells the receiver)."""
    require(actor, Perm.CUSTOMER_ASSIGN)
    now = now or timezone.now()
    from_user = handover_sources(actor).filter(pk=from_user_id).first()
    to_user = assignable_users(actor).filter(pk=to_user_id).first()
    errors: dict[str, list[str]] = {}
    if from_user is None:
        errors["from_user"] = [_("Select a user within your data scope.")]
    if to_user is None:
        errors["to_user"] = [_("Select an active user within your data scope.")]
    elif from_user is not None and from_user.pk == to_user.pk:
        errors["to_user"] = [_("Select a different user to receive the handover.")]
    if errors:
        raise ValidationError(errors)

    customers = change_owner(
        Customer.objects.filter(owner=from_user),
        to_user,
        reason=OwnershipReason.HANDOVER,
        actor=actor,
        now=now,
    )
    tasks = (
        [
            _Moved(*row)
            for row in Task.objects.filter(owner=from_user, status=TaskStatus.OPEN)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", "title", "owner_id")
        ]
        if include_tasks
        else []
    )
    _move_tasks(tasks, to_user, actor=actor)
    deal_ids = _move_deals(from_user, to_user, actor=actor, now=now)
    if not customers and not tasks and not deal_ids:  # nothing was written
        raise ValidationError(
            {"from_user": [_("%(name)s has no customers or open tasks to hand over.") % {"name": from_user}]}
        )
    summary = {
        "customers": len(customers),
        "tasks": len(tasks),
        "deals": len(deal_ids),
        "customer_ids": [move.customer_id for move in customers],
        "task_ids": [row.pk for row in tasks],
        "deal_ids": deal_ids,
    }
    record = Handover.objects.create(
        from_user=from_user, to_user=to_user, actor=_user_or_none(actor), summary=summary
    )
    audit.record(
        AuditAction.CREATE,
        record,
        actor=actor,
        before=None,
        after={"from_user": from_user.pk, "to_user": to_user.pk, "customers": len(customers), "tasks": len(tasks),
               "deals": len(deal_ids)},
    )  # fmt: skip
    emit(
        AssignmentEvent.HANDOVER_COMPLETED,
        record,
        actor=actor,
        payload={"from_user_id": from_user.pk, "to_user_id": to_user.pk, "customers": len(customers),
                 "tasks": len(tasks), "deals": len(deal_ids)},
    )  # fmt: skip
    return record


def _clean_ids(raw: Iterable[Any]) -> list[int]:
    ids = set()
    for value in raw:
        if not str(value).strip().isdigit():
            raise ValidationError({"customer_ids": [_("Invalid value.")]})
        ids.add(int(str(value).strip()))
    return sorted(ids)


@transaction.atomic
def transfer_customers(
    customer_ids: Iterable[Any],
    to_user_id: int,
    *,
    actor,
    include_tasks: bool = True,
    now: dt.datetime | None = None,
) -> int:
    """Bulk transfer (批量转移) of customers the actor can see to one user; their open tasks held by the
    previous owner follow them. Customers outside the actor's scope, deleted, or already owned by the
    receiver are left alone. Returns how many customers moved (0: nothing written)."""
    require(actor, Perm.CUSTOMER_ASSIGN)
    now = now or timezone.now()
    ids = _clean_ids(customer_ids)
    if not ids:
        raise ValidationError({"customer_ids": [_("Select at least one customer.")]})
    if len(ids) > MAX_TRANSFER:
        raise ValidationError(
            {"customer_ids": [_("Transfer at most %(max)d customers at a time.") % {"max": MAX_TRANSFER}]}
        )
    to_user = assignable_users(actor).filter(pk=to_user_id).first() if str(to_user_id).isdigit() else None
    if to_user is None:
        raise ValidationError({"to_user": [_("Select an active user within your data scope.")]})
    rows = change_owner(
        Customer.objects.visible_to(actor).filter(pk__in=ids),
        to_user,
        reason=OwnershipReason.TRANSFER,
        actor=actor,
        now=now,
    )
    if not rows:
        return 0
    tasks: list[_Moved] = []
    previous = {row.customer_id: row.from_owner_id for row in rows if row.from_owner_id is not None}
    for part in _chunks(list(previous) if include_tasks else []):
        found = (
            Task.objects.filter(customer_id__in=part, status=TaskStatus.OPEN)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", "title", "owner_id", "customer_id")
        )
        # Only the tasks the previous owner held follow the customer (not a colleague's).
        tasks += [
            _Moved(pk, title, owner)
            for pk, title, owner, customer_id in found
            if owner == previous[customer_id]
        ]
    _move_tasks(tasks, to_user, actor=actor)
    customer_ids_moved = [row.customer_id for row in rows]
    emit(
        AssignmentEvent.CUSTOMERS_TRANSFERRED,
        to_user,
        actor=actor,
        payload={
            "to_user_id": to_user.pk,
            "customer_ids": customer_ids_moved,
            "task_ids": [t.pk for t in tasks],
        },
    )
    return len(rows)
