"""The public pool's reclaim sweep (回收到公海) and the warnings before it.

- The sweep is set-based: per pool, per rule, per id-range chunk, one locking query finds every
  due customer and `customers.ownership.change_owner` moves them with their ownership history,
  audit entries and `customer.assigned` events in bulk. Running it twice at the same `now` changes
  nothing the second time; warnings are deduplicated per owner and day.
- Rules: "no follow-up for N days" (N per tier or the pool's period) and "no deal for M days";
  locked customers and customers with an open deal are exempt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from guanxi.core.events import emit, emit_many
from guanxi.core.models import Event, User
from guanxi.customers.models import Customer, Tier
from guanxi.customers.ownership import change_owner
from guanxi.engagement.actions.pool import PoolMap, pool_for
from guanxi.engagement.events import PoolEvent
from guanxi.engagement.models import OwnershipReason, Pool
from guanxi.sales.models import Deal, Order, OrderStatus, StageOutcome

WARNING_NAMES = 5  # customers named in a warning; the rest are on the "about to return" page


# --------------------------------------------------------------------------- reclaim rules

# Customers that are never reclaimed, as queryset filters applied to every reclaim query (and to the
# warnings): locked customers, and customers with an open deal (商机 in progress); every sweep
# query carries the conditions (one NOT EXISTS per statement, still set-based).
Exemption = Callable[[QuerySet], QuerySet]


def _has_open_deal(qs: QuerySet) -> QuerySet:
    return qs.exclude(Exists(Deal.objects.filter(customer=OuterRef("pk"), closed_at__isnull=True)))


EXEMPTIONS: list[Exemption] = [lambda qs: qs.filter(locked=False), _has_open_deal]


def _not_exempt(qs: QuerySet) -> QuerySet:
    for exempt in EXEMPTIONS:
        qs = exempt(qs)
    return qs


# When the follow-up clock started: the later of the last follow-up and the start of ownership (a
# rep who claims a customer untouched for a year gets the full period), creation as the fallback.
FOLLOW_UP_CLOCK = "pool_follow_up_clock"
OWNED_CLOCK = "pool_owned_clock"


def _with_clocks(qs: QuerySet) -> QuerySet:
    return qs.alias(
        **{
            FOLLOW_UP_CLOCK: Greatest(
                Coalesce("last_follow_up_at", "created_at"), Coalesce("owned_since", "created_at")
            ),
            OWNED_CLOCK: Coalesce("owned_since", "created_at"),
        }
    )


def tier_days(pool: Pool) -> dict[str, int]:
    """The pool's valid per-tier follow-up periods ({tier: days}; 0 = that tier is never reclaimed)."""
    result = {}
    for tier, days in (pool.days_by_tier or {}).items():
        if (
            tier in Tier.values
            and tier
            and isinstance(days, int)
            and not isinstance(days, bool)
            and days >= 0
        ):
            result[tier] = days
    return result


def _follow_up_rule(pool: Pool, at: dt.datetime) -> Q | None:
    """Due at `at` under "no follow-up for N days" (N per tier, else the pool's period)."""
    tiers = tier_days(pool)
    parts = []
    if pool.no_follow_up_days:
        parts.append(
            ~Q(tier__in=list(tiers))
            & Q(**{f"{FOLLOW_UP_CLOCK}__lte": at - dt.timedelta(days=pool.no_follow_up_days)})
        )
    for tier, days in tiers.items():
        if days:
            parts.append(Q(tier=tier) & Q(**{f"{FOLLOW_UP_CLOCK}__lte": at - dt.timedelta(days=days)}))
    if not parts:
        return None
    q = parts[0]
    for part in parts[1:]:
        q |= part
    return q


def _no_deal_rule(pool: Pool, at: dt.datetime) -> Q | None:
    """Due at `at` under "no deal for M days": owned for M days, and neither a won deal nor a paid
    order in the last M days (customers with an open deal are exempt altogether, see EXEMPTIONS)."""
    if not pool.no_deal_days:
        return None
    since = at - dt.timedelta(days=pool.no_deal_days)
    recent_order = Order.objects.filter(
        customer=OuterRef("pk"), status=OrderStatus.PAID, ordered_at__gt=since
    )
    recent_win = Deal.objects.filter(
        customer=OuterRef("pk"), stage__outcome=StageOutcome.WON, closed_at__gt=since
    )
    return Q(**{f"{OWNED_CLOCK}__lte": since}) & ~Q(Exists(recent_order)) & ~Q(Exists(recent_win))


RULES: dict[str, Callable[[Pool, dt.datetime], Q | None]] = {
    "no_follow_up": _follow_up_rule,
    "no_deal": _no_deal_rule,
}


def _owners_of(pool_id: int, departments: list[int], default_id: int | None) -> QuerySet:
    """Users whose customers return to this pool (a subquery, so one statement covers them all)."""
    q = Q(department_id__in=departments)
    if pool_id == default_id:
        q |= Q(department__isnull=True)
    return User.objects.filter(q).values("pk")


def _owned_by_pool_members(pool: Pool, owners: QuerySet) -> QuerySet:
    return _with_clocks(_not_exempt(Customer.objects.alive().filter(owner__in=owners)))


def due_queryset(
    pool: Pool, owners: QuerySet, at: dt.datetime, rules: Iterable[str] | None = None
) -> QuerySet:
    """Owned customers of this pool's members that any of the rules return to the pool at `at`."""
    q = None
    for name in rules or RULES:
        rule_q = RULES[name](pool, at)
        if rule_q is not None:
            q = rule_q if q is None else q | rule_q
    if q is None:
        return Customer.objects.none()
    return _owned_by_pool_members(pool, owners).filter(q)


# --------------------------------------------------------------------------- the sweep


def _reclaim_chunk(due: QuerySet, pool: Pool, now: dt.datetime) -> int:
    """Lock the due rows (re-checking that they are still due; on PostgreSQL skipping rows a user is
    editing right now: the next run picks them up) and move them to the pool through change_owner
    (history, audit entries and events in bulk)."""
    moves = change_owner(
        due,
        None,
        reason=OwnershipReason.RECLAIMED,
        actor=None,
        now=now,
        pool_id=pool.pk,
        skip_locked=connection.features.has_select_for_update_skip_locked,
        check_permission=False,
    )
    return len(moves)


def _warn_owners(pool: Pool, owners: QuerySet, now: dt.datetime) -> tuple[int, int]:
    """Tell each owner, once per local day, how many of their customers return to the pool within the
    pool's warning period (one digest per owner, not one message per customer: a sweep over a million
    customers must not send a hundred thousand notifications). One `pool.warning` event per owner and
    day; messaging's subscriber sends the notification. Returns (owners at risk, warnings emitted)."""
    if not pool.warn_days:
        return 0, 0
    at_risk = due_queryset(pool, owners, now + dt.timedelta(days=pool.warn_days))
    counts = dict(at_risk.order_by().values("owner_id").annotate(n=Count("id")).values_list("owner_id", "n"))
    if not counts:
        return 0, 0
    day = timezone.localdate(now).isoformat()
    done = set(
        Event.objects.filter(name=PoolEvent.WARNING, payload__day=day).values_list(
            "payload__owner_id", flat=True
        )
    )
    todo = [owner_id for owner_id in counts if owner_id not in done]
    warnings = []
    for owner_id in todo:
        names = list(
            at_risk.filter(owner_id=owner_id)
            .order_by(FOLLOW_UP_CLOCK, "id")
            .values_list("name", flat=True)[:WARNING_NAMES]
        )
        payload = {"owner_id": owner_id, "pool_id": pool.pk, "count": counts[owner_id], "days": pool.warn_days,
                   "names": names, "day": day}  # fmt: skip
        warnings.append((User(pk=owner_id), payload))
    with transaction.atomic():
        emit_many(PoolEvent.WARNING, warnings)
    return len(counts), len(warnings)


def reclaim_sweep(now: dt.datetime | None = None, chunk: int = 50_000) -> dict[str, Any]:
    """Return every due customer to its owner's pool and warn owners of customers due soon.

    Per pool, per rule and per id range of `chunk` customers: one short transaction (a locking query
    and change_owner's bulk writes). Idempotent: reclaimed customers have no owner any more, and warnings are
    deduplicated per owner and day, so a second run at the same `now` changes nothing.
    """
    now = now or timezone.now()
    chunk = max(int(chunk), 1)
    pools = PoolMap.load()
    departments = pools.departments_by_pool()
    stats: dict[str, Any] = {
        "reclaimed": 0,
        "by_rule": dict.fromkeys(RULES, 0),
        "by_pool": {},
        "owners_at_risk": 0,
        "warnings_sent": 0,
        "statements": 0,
    }
    bounds = Customer.objects.aggregate(lo=Min("id"), hi=Max("id"))
    for pool in pools.pools.values():
        member_departments = departments.get(pool.pk, [])
        if not member_departments and pool.pk != pools.default_id:
            continue  # nobody's customers return to this pool
        owners = _owners_of(pool.pk, member_departments, pools.default_id)
        moved_here = 0
        if bounds["lo"] is not None:
            for rule in RULES:
                if RULES[rule](pool, now) is None:
                    continue
                for start in range(bounds["lo"], bounds["hi"] + 1, chunk):
                    due = due_queryset(pool, owners, now, rules=[rule]).filter(
                        pk__gte=start, pk__lt=start + chunk
                    )
                    with transaction.atomic():
                        moved = _reclaim_chunk(due, pool, now)
                    stats["statements"] += 1
                    stats["by_rule"][rule] += moved
                    moved_here += moved
        if moved_here:
            with transaction.atomic():
                emit(
                    PoolEvent.RECLAIMED,
                    pool,
                    actor=None,
                    payload={"pool_id": pool.pk, "count": moved_here, "at": now.isoformat()},
                )
        stats["by_pool"][str(pool.pk)] = moved_here
        stats["reclaimed"] += moved_here
        at_risk, sent = _warn_owners(pool, owners, now)
        stats["owners_at_risk"] += at_risk
        stats["warnings_sent"] += sent
    return stats


# --------------------------------------------------------------------------- reads for the pages


@dataclass(frozen=True)
class AtRisk:
    customer: Customer
    due_at: dt.datetime
    rule: str


def due_time(
    customer: Customer, pool: Pool, *, last_deal_at: dt.datetime | None = None
) -> tuple[dt.datetime, str] | None:
    """When (and by which rule) an owned customer returns to the pool, as things stand."""
    candidates = []
    tiers = tier_days(pool)
    days = tiers.get(customer.tier, pool.no_follow_up_days)
    if days:
        clock = max(
            customer.last_follow_up_at or customer.created_at, customer.owned_since or customer.created_at
        )
        candidates.append((clock + dt.timedelta(days=days), "no_follow_up"))
    if pool.no_deal_days:
        clock = max(customer.owned_since or customer.created_at, last_deal_at or customer.created_at)
        candidates.append((clock + dt.timedelta(days=pool.no_deal_days), "no_deal"))
    return min(candidates, key=lambda c: c[0]) if candidates else None


def customers_at_risk(user, *, now: dt.datetime | None = None) -> tuple[Pool | None, list[AtRisk]]:
    """The user's own customers that return to their pool within its warning period, soonest first."""
    now = now or timezone.now()
    pools = PoolMap.load()
    pool = pool_for(user, pools=pools)
    if pool is None:
        return None, []
    horizon = now + dt.timedelta(days=max(pool.warn_days, 1))
    last_deal = (
        Order.objects.filter(customer=OuterRef("pk"), status=OrderStatus.PAID)
        .order_by("-ordered_at")
        .values("ordered_at")[:1]
    )
    qs = due_queryset(pool, User.objects.filter(pk=user.pk).values("pk"), horizon).annotate(
        last_deal_at=Subquery(last_deal)
    )
    result = []
    for customer in qs.order_by(F(FOLLOW_UP_CLOCK).asc(), "id")[:500]:
        due = due_time(customer, pool, last_deal_at=customer.last_deal_at)
        if due is not None:
            result.append(AtRisk(customer, *due))
    result.sort(key=lambda r: (r.due_at, r.customer.pk))
    return pool, result
