"""Public pools (公海): which pool a customer belongs to, claiming, releasing, and the reclaim sweep.

Rules of the house (see docs/architecture.md, "Public pools"):

- A customer has exactly one owner or none. Owned customers have `pool = NULL`; a customer in a
  pool has `owner = NULL`. Unowned customers without a pool (created without an owner, bulk
  imports) count as members of the default pool.
- Pool membership follows the department tree: the pool of a user (and of the customers they own)
  is the first pool met walking up from the user's department (`Department.path`); when none, the
  default pool. A user may claim from every pool one of their departments (or an ancestor) is a
  member of, from pools without member departments (open to all), and from their own pool.
- Claiming is race-free: one conditional UPDATE (`owner IS NULL AND pool = …`) decides the winner;
  the claim limit is checked under a row lock on the claiming user, so parallel claims by the same
  rep queue up and cannot overshoot. Losers get `ClaimRefused` with a translated message.
- The reclaim sweep is set-based: per pool, per rule, per id-range chunk, one locking query finds
  every due customer and `customers.ownership.change_owner` moves them with their ownership history,
  audit entries and `customer.assigned` events in bulk. Running it twice at the same `now` changes
  nothing the second time; warnings are deduplicated.
- Every owner change goes through `change_owner`; the pool's rules reach it through
  `PoolOwnershipPolicy` (registered at start-up): a person taking a pool customer by any path (the
  claim button, the edit form, the API) is a claim under the pool's membership, limit and cooldown.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guanxi.core import audit
from guanxi.core.events import emit, emit_many
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, Department, Event, User
from guanxi.core.permissions import Perm
from guanxi.customers.models import Customer, Tier
from guanxi.customers.ownership import Move, OwnershipRefused, change_owner
from guanxi.engagement.events import PoolEvent
from guanxi.engagement.models import OwnershipChange, OwnershipReason, Pool
from guanxi.sales.models import Deal, Order, OrderStatus, StageOutcome

log = logging.getLogger(__name__)

CLAIM_WINDOW = dt.timedelta(hours=24)  # the claim limit counts claims in this rolling window
RELEASE_REASON_MAX = 200
WARNING_NAMES = 5  # customers named in a warning; the rest are on the "about to return" page


class RefusalCode(models.TextChoices):
    NOT_AVAILABLE = "not_available"
    TAKEN = "taken"
    LIMIT = "limit"
    COOLDOWN = "cooldown"
    NOT_OWNED = "not_owned"
    NO_POOL = "no_pool"


class PoolRefused(OwnershipRefused):
    """A pool action the rules refuse. `message` is translated and safe to show to the user."""


class ClaimRefused(PoolRefused):
    pass


class ReleaseRefused(PoolRefused):
    pass


# --------------------------------------------------------------------------- pool membership


def _path_ids(path: str | None) -> list[int]:
    """Department ids on a materialised path ("/1/4/9/"), deepest first."""
    return [int(part) for part in reversed((path or "").strip("/").split("/")) if part]


@dataclass
class PoolMap:
    """Every pool with its member departments, loaded once per action or sweep (never cached across
    requests: pools may change any time)."""

    pools: dict[int, Pool]
    members: dict[int, list[int]] = field(default_factory=dict)  # department id -> pool ids
    default_id: int | None = None
    open_ids: set[int] = field(default_factory=set)  # pools without member departments

    @classmethod
    def load(cls) -> PoolMap:
        pools = {p.pk: p for p in Pool.objects.order_by("id")}
        members: dict[int, list[int]] = defaultdict(list)
        through = Pool.departments.through
        for pool_id, dept_id in through.objects.order_by("pool_id").values_list("pool_id", "department_id"):
            members[dept_id].append(pool_id)
        default_id = next((pk for pk, p in pools.items() if p.is_default), None)
        open_ids = {pk for pk in pools if not any(pk in ids for ids in members.values())}
        return cls(pools=pools, members=dict(members), default_id=default_id, open_ids=open_ids)

    def pool_id_for_path(self, path: str | None) -> int | None:
        """The most specific pool on the department path, else the default pool (None: no pools)."""
        for dept_id in _path_ids(path):
            if dept_id in self.members:
                return self.members[dept_id][0]
        return self.default_id

    def claimable_ids(self, path: str | None) -> set[int]:
        ids = {pid for dept_id in _path_ids(path) for pid in self.members.get(dept_id, [])}
        ids |= self.open_ids
        own = self.pool_id_for_path(path)
        if own is not None:
            ids.add(own)
        return ids

    def departments_by_pool(self) -> dict[int, list[int]]:
        """{pool id: ids of the departments whose members' customers return to that pool}."""
        result: dict[int, list[int]] = defaultdict(list)
        for dept_id, path in Department.objects.values_list("id", "path"):
            pool_id = self.pool_id_for_path(path)
            if pool_id is not None:
                result[pool_id].append(dept_id)
        return dict(result)


def _department_path(user) -> str | None:
    if user is None or user.department_id is None:
        return None
    return Department.objects.filter(pk=user.department_id).values_list("path", flat=True).first()


def pool_for(obj: Customer | User | None, *, pools: PoolMap | None = None) -> Pool | None:
    """The pool of a user, or of a customer's owner: the first pool met walking up the owner's
    department tree, else the default pool. None when no pool fits (no default pool configured)."""
    pools = pools or PoolMap.load()
    user = obj.owner if isinstance(obj, Customer) else obj
    pool_id = pools.pool_id_for_path(_department_path(user))
    return pools.pools.get(pool_id) if pool_id is not None else None


def claimable_pools(user, *, pools: PoolMap | None = None) -> list[Pool]:
    """The pools `user` may see and claim from, by name."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    pools = pools or PoolMap.load()
    ids = pools.claimable_ids(_department_path(user))
    return sorted((pools.pools[pk] for pk in ids), key=lambda p: (p.name, p.pk))


def _in_pool_q(pool_id: int, default_id: int | None) -> Q:
    """Customers waiting in a pool (unowned customers without a pool belong to the default pool)."""
    q = Q(pool_id=pool_id)
    if pool_id == default_id:
        q |= Q(pool__isnull=True)
    return Q(owner__isnull=True) & q


def pool_customers(user, pool: Pool, *, q: str = "", pools: PoolMap | None = None) -> QuerySet:
    """The customers waiting in `pool`, for a user who may claim from it (else none).

    Pool customers have no owner, so the usual owner-based data scope would hide them from reps:
    for them the scope is pool membership."""
    from guanxi.customers.queries import search_q

    pools = pools or PoolMap.load()
    if pool.pk not in {p.pk for p in claimable_pools(user, pools=pools)}:
        return Customer.objects.none()
    qs = Customer.objects.alive().filter(_in_pool_q(pool.pk, pools.default_id))
    sq = search_q(q, user=user)  # phones match only numbers the user may see in full
    if sq is not None:
        qs = qs.filter(sq)
    return qs.order_by("-id")


# --------------------------------------------------------------------------- claim and release


def _not_in_your_pools() -> ClaimRefused:
    return ClaimRefused(RefusalCode.NOT_AVAILABLE, _("This customer is not in any of your public pools."))


def _taken() -> ClaimRefused:
    return ClaimRefused(RefusalCode.TAKEN, _("This customer has already been claimed by someone else."))


class PoolOwnershipPolicy:
    """The public pool's part of every owner change (registered with `customers.ownership` from
    `EngagementConfig.ready()`): where released and reclaimed customers go, the claim rules, and the
    ownership history (one OwnershipChange row per customer that changed hands)."""

    def prepare(self, moves: list[Move], *, actor, now: dt.datetime) -> None:
        releases = [m for m in moves if m.to_owner_id is None]
        takes = [m for m in moves if m.to_owner_id is not None and m.from_owner_id is None]
        if not releases and not takes:
            return
        pools = PoolMap.load()
        unplaced = {m.from_owner_id for m in releases if m.to_pool_id is None}
        paths = dict(User.objects.filter(pk__in=unplaced).values_list("pk", "department__path"))
        for move in releases:
            if move.reason == OwnershipReason.CHANGED:
                move.reason = OwnershipReason.RELEASED  # an owner cleared by an edit: a release
            if move.to_pool_id is None:
                move.to_pool_id = pools.pool_id_for_path(paths.get(move.from_owner_id))
            move.involved_pool_id = move.to_pool_id
        claims = []
        for move in takes:
            source = move.from_pool_id if move.from_pool_id is not None else pools.default_id
            if source is None:
                continue  # no pools configured: an unowned customer is simply taken
            if isinstance(actor, User) and move.to_owner_id == actor.pk:
                move.reason, move.involved_pool_id = OwnershipReason.CLAIMED, source
                claims.append(move)
            else:
                # assigned out of a pool by someone who may assign
                move.involved_pool_id = move.from_pool_id
        if claims:
            self._check_claims(claims, pools, actor=actor, now=now)

    def _check_claims(self, claims: list[Move], pools: PoolMap, *, actor: User, now: dt.datetime) -> None:
        # Serialise this rep's claims (NO KEY UPDATE: rows referencing the user are not blocked), so
        # the limit check and the claims commit as one step per rep.
        list(User.objects.select_for_update(no_key=True).filter(pk=actor.pk).values_list("pk", flat=True))
        claimable = pools.claimable_ids(_department_path(actor))
        if any(move.involved_pool_id not in claimable for move in claims):
            raise _not_in_your_pools()
        longest = max(pools.pools[m.involved_pool_id].cooldown_days for m in claims)
        if longest:
            lost = (
                OwnershipChange.objects.filter(
                    customer_id__in=[m.customer_id for m in claims],
                    from_user_id=actor.pk,
                    reason__in=[OwnershipReason.RECLAIMED, OwnershipReason.RELEASED],
                    at__gt=now - dt.timedelta(days=longest),
                )
                .values("customer_id")
                .annotate(last=Max("at"))
            )
            last = {row["customer_id"]: row["last"] for row in lost}
            for move in claims:
                days = pools.pools[move.involved_pool_id].cooldown_days
                lost_at = last.get(move.customer_id)
                if days and lost_at is not None and lost_at > now - dt.timedelta(days=days):
                    until = lost_at + dt.timedelta(days=days)
                    raise ClaimRefused(
                        RefusalCode.COOLDOWN,
                        _("You lost this customer recently; you may claim it again after %(until)s.")
                        % {"until": date_format(timezone.localtime(until), "SHORT_DATETIME_FORMAT")},
                        until=until,
                    )
        wanted: dict[int, int] = defaultdict(int)
        for move in claims:
            wanted[move.involved_pool_id] += 1
        claimed = dict(
            OwnershipChange.objects.filter(
                to_user_id=actor.pk,
                reason=OwnershipReason.CLAIMED,
                pool_id__in=list(wanted),
                at__gt=now - CLAIM_WINDOW,
            )
            .order_by()
            .values("pool_id")
            .annotate(n=Count("id"))
            .values_list("pool_id", "n")
        )
        for pool_id, count in wanted.items():
            pool = pools.pools[pool_id]
            if claimed.get(pool_id, 0) + count > pool.claim_limit:
                raise ClaimRefused(
                    RefusalCode.LIMIT,
                    ngettext(
                        "You have reached the claim limit of this pool (%(limit)d customer in 24 hours).",
                        "You have reached the claim limit of this pool (%(limit)d customers in 24 hours).",
                        pool.claim_limit,
                    )
                    % {"limit": pool.claim_limit},
                    limit=pool.claim_limit,
                )

    def record(self, moves: list[Move], *, actor, now: dt.datetime) -> None:
        OwnershipChange.objects.bulk_create(
            [
                OwnershipChange(
                    customer_id=move.customer_id,
                    from_user_id=move.from_owner_id,
                    to_user_id=move.to_owner_id,
                    pool_id=move.involved_pool_id,
                    reason=move.reason,
                    at=now,
                    actor=actor if isinstance(actor, User) else None,
                )
                for move in moves
            ],
            batch_size=1_000,
        )


@transaction.atomic
def claim(customer_id: int, *, actor: User, now: dt.datetime | None = None) -> Customer:
    """Take a customer from one of the actor's pools. Exactly one of several concurrent claims wins;
    the others get ClaimRefused (never an error). The rules (membership, cooldown, claim limit) are
    `PoolOwnershipPolicy`'s, applied by `change_owner` to every path that takes a pool customer."""
    require(actor, Perm.CUSTOMER_VIEW)
    now = now or timezone.now()
    # The rep's lock first (as the policy takes it), then the customer's.
    list(User.objects.select_for_update(no_key=True).filter(pk=actor.pk).values_list("pk", flat=True))
    customer = Customer.objects.alive().filter(pk=customer_id).first()
    if customer is None:
        raise _not_in_your_pools()
    if customer.owner_id is not None:
        raise _taken()
    # The winner is whoever locks the customer while it is still unowned: a concurrent claim waits for
    # the lock, then finds it owned (no row) and is refused.
    moves = change_owner(
        Customer.objects.filter(pk=customer.pk, owner__isnull=True),
        actor,
        reason=OwnershipReason.CLAIMED,
        actor=actor,
        now=now,
    )
    if not moves:
        raise _taken()
    customer.refresh_from_db(fields=["owner", "owned_since", "pool", "updated_at"])
    return customer


@transaction.atomic
def release(customer_id: int, *, actor: User, reason: str = "", now: dt.datetime | None = None) -> Customer:
    """Give a customer back to the owner's pool (放弃客户). The owner may release their own
    customers; others need `customer.assign` and the customer in their data scope."""
    require(actor, Perm.CUSTOMER_VIEW)
    now = now or timezone.now()
    reason = " ".join((reason or "").split())
    if len(reason) > RELEASE_REASON_MAX:
        raise ValidationError(
            {"reason": [_("Must be at most %(max)d characters.") % {"max": RELEASE_REASON_MAX}]}
        )
    customer = (
        Customer.objects.visible_to(actor)
        .alive()
        .select_for_update(of=("self",))
        .select_related("owner")
        .filter(pk=customer_id)
        .first()
    )
    if customer is None:
        raise NotFound(customer_id)
    if customer.owner_id is None:
        raise ReleaseRefused(RefusalCode.NOT_OWNED, _("This customer has no owner."))
    if customer.owner_id != actor.pk and not actor.has_perm_code(Perm.CUSTOMER_ASSIGN):
        raise PermissionDenied(_("You may only release your own customers."))
    pool = pool_for(customer.owner)
    if pool is None:
        raise ReleaseRefused(
            RefusalCode.NO_POOL, _("No public pool is configured for this customer's owner.")
        )
    change_owner(
        [customer.pk],
        None,
        reason=OwnershipReason.RELEASED,
        actor=actor,
        now=now,
        pool_id=pool.pk,
        audit_note={"release_reason": reason} if reason else None,
    )
    customer.refresh_from_db(fields=["owner", "owned_since", "pool", "updated_at"])
    return customer


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


@transaction.atomic
def ensure_default_pool(*, actor=None) -> Pool:
    """The company-wide default pool (公海): open to every department, 30 days without follow-up.
    Created once (by `guanxi up`); administrators tune it and add department pools in the admin."""
    pool = Pool.objects.filter(is_default=True).order_by("pk").first()
    if pool is not None:
        return pool
    pool = Pool.objects.create(name=str(_("Public pool")), is_default=True)
    audit.record(
        AuditAction.CREATE,
        pool,
        actor=actor,
        before=None,
        after={"name": pool.name, "is_default": True, "no_follow_up_days": pool.no_follow_up_days},
    )
    return pool
