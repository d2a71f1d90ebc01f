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
- The reclaim sweep is set-based: per pool, per rule, per id-range chunk, one statement finds and
  moves every due customer and writes their ownership history and audit rows. Running it twice at
  the same `now` changes nothing the second time; warnings are deduplicated.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guanxi.core import audit
from guanxi.core.context import current_request_id
from guanxi.core.events import emit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, AuditEntry, Department, User
from guanxi.core.permissions import Perm
from guanxi.customers.models import Customer, Tier
from guanxi.engagement.models import OwnershipChange, OwnershipReason, Pool
from guanxi.sales.models import Deal, Order, OrderStatus, StageOutcome

log = logging.getLogger(__name__)

CLAIM_WINDOW = dt.timedelta(hours=24)  # the claim limit counts claims in this rolling window
RELEASE_REASON_MAX = 200
WARNING_NAMES = 5  # customers named in a warning; the rest are on the "about to return" page


class PoolEvent(models.TextChoices):
    """Domain events of the public pool (emitted through the outbox like `core.events.EventName`)."""

    CLAIMED = "customer.claimed"
    RELEASED = "customer.released"
    # One summary event per pool and sweep run (not one per customer: a sweep may move 100,000
    # customers). Its payload says when; the OwnershipChange rows with `at` = that time and
    # reason "reclaimed" are the detail.
    RECLAIMED = "pool.reclaimed"


class RefusalCode(models.TextChoices):
    NOT_AVAILABLE = "not_available"
    TAKEN = "taken"
    LIMIT = "limit"
    COOLDOWN = "cooldown"
    NOT_OWNED = "not_owned"
    NO_POOL = "no_pool"


class PoolRefused(Exception):
    """A pool action the rules refuse. `message` is translated and safe to show to the user."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


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
    sq = search_q(q)
    if sq is not None:
        qs = qs.filter(sq)
    return qs.order_by("-id")


# --------------------------------------------------------------------------- claim and release


def _ownership_snapshot(owner_id: int | None, pool_id: int | None) -> dict[str, Any]:
    return {"owner_id": owner_id, "pool_id": pool_id}


@transaction.atomic
def claim(customer_id: int, *, actor: User, now: dt.datetime | None = None) -> Customer:
    """Take a customer from one of the actor's pools. Exactly one of several concurrent claims wins;
    the others get ClaimRefused (never an error)."""
    require(actor, Perm.CUSTOMER_VIEW)
    now = now or timezone.now()
    # Serialise this rep's claims (NO KEY UPDATE: rows referencing the user are not blocked), so the
    # limit check below and the claim commit as one step per rep.
    list(User.objects.select_for_update(no_key=True).filter(pk=actor.pk).values_list("pk", flat=True))
    pools = PoolMap.load()
    customer = Customer.objects.alive().filter(pk=customer_id).first()
    if customer is None:
        raise ClaimRefused(RefusalCode.NOT_AVAILABLE, _("This customer is not in any of your public pools."))
    if customer.owner_id is not None:
        raise ClaimRefused(RefusalCode.TAKEN, _("This customer has already been claimed by someone else."))
    pool_id = customer.pool_id if customer.pool_id is not None else pools.default_id
    if pool_id is None or pool_id not in pools.claimable_ids(_department_path(actor)):
        raise ClaimRefused(RefusalCode.NOT_AVAILABLE, _("This customer is not in any of your public pools."))
    pool = pools.pools[pool_id]

    if pool.cooldown_days:
        lost_at = OwnershipChange.objects.filter(
            customer_id=customer.pk,
            from_user_id=actor.pk,
            reason__in=[OwnershipReason.RECLAIMED, OwnershipReason.RELEASED],
            at__gt=now - dt.timedelta(days=pool.cooldown_days),
        ).aggregate(last=Max("at"))["last"]
        if lost_at is not None:
            until = lost_at + dt.timedelta(days=pool.cooldown_days)
            raise ClaimRefused(
                RefusalCode.COOLDOWN,
                _("You lost this customer recently; you may claim it again after %(until)s.")
                % {"until": date_format(timezone.localtime(until), "SHORT_DATETIME_FORMAT")},
                until=until,
            )

    claimed = OwnershipChange.objects.filter(
        to_user_id=actor.pk, reason=OwnershipReason.CLAIMED, pool_id=pool.pk, at__gt=now - CLAIM_WINDOW
    ).count()
    if claimed >= pool.claim_limit:
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

    # The winner is whoever's UPDATE still finds the customer unowned in this pool.
    won = (
        Customer.objects.alive()
        .filter(_in_pool_q(pool.pk, pools.default_id), pk=customer.pk)
        .update(owner=actor, owned_since=now, pool=None, updated_at=now)
    )
    if not won:
        raise ClaimRefused(RefusalCode.TAKEN, _("This customer has already been claimed by someone else."))

    OwnershipChange.objects.create(
        customer_id=customer.pk, from_user=None, to_user=actor, pool=pool,
        reason=OwnershipReason.CLAIMED, at=now, actor=actor,
    )  # fmt: skip
    audit.record(
        AuditAction.UPDATE,
        customer,
        actor=actor,
        before=_ownership_snapshot(None, customer.pool_id),
        after=_ownership_snapshot(actor.pk, None),
    )
    emit(PoolEvent.CLAIMED, customer, actor=actor, payload={"pool_id": pool.pk, "owner_id": actor.pk})
    customer.owner, customer.owned_since, customer.pool, customer.updated_at = actor, now, None, now
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
    previous_owner_id = customer.owner_id
    Customer.objects.filter(pk=customer.pk).update(owner=None, owned_since=None, pool=pool, updated_at=now)
    OwnershipChange.objects.create(
        customer_id=customer.pk, from_user_id=previous_owner_id, to_user=None, pool=pool,
        reason=OwnershipReason.RELEASED, at=now, actor=actor,
    )  # fmt: skip
    after = _ownership_snapshot(None, pool.pk)
    if reason:
        after["release_reason"] = reason
    audit.record(
        AuditAction.UPDATE,
        customer,
        actor=actor,
        before=_ownership_snapshot(previous_owner_id, None),
        after=after,
    )
    emit(
        PoolEvent.RELEASED,
        customer,
        actor=actor,
        payload={"pool_id": pool.pk, "from_user_id": previous_owner_id, "reason": reason},
    )
    customer.owner, customer.owned_since, customer.pool, customer.updated_at = None, None, pool, now
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


def _reclaim_chunk_postgresql(due: QuerySet, pool: Pool, now: dt.datetime, ctx: dict) -> int:
    """One statement: lock the due rows (skipping rows a user is editing right now: they are picked
    up by the next run), move them to the pool, write their history and audit rows."""
    sql, params = (
        due.select_for_update(skip_locked=True, of=("self",))
        .values("id", "owner_id", "name")
        .query.sql_with_params()
    )
    q = connection.ops.quote_name
    customers = q(Customer._meta.db_table)
    changes = q(OwnershipChange._meta.db_table)
    entries = q(AuditEntry._meta.db_table)
    statement = f"""
        WITH due AS ({sql}),
        moved AS (
            UPDATE {customers} AS c
               SET owner_id = NULL, owned_since = NULL, pool_id = %s, updated_at = %s
              FROM due
             WHERE c.id = due.id AND c.owner_id IS NOT DISTINCT FROM due.owner_id
         RETURNING c.id, due.owner_id AS from_user_id, due.name
        ),
        history AS (
            INSERT INTO {changes} (customer_id, from_user_id, to_user_id, pool_id, reason, at, actor_id)
            SELECT id, from_user_id, NULL, %s, %s, %s, NULL FROM moved
        ),
        audit AS (
            INSERT INTO {entries} (created_at, actor_id, actor_label, request_id, action, content_type_id,
                                   object_id, object_repr, before, after)
            SELECT %s, NULL, %s, %s, %s, %s, id, left(name, 200),
                   jsonb_build_object('owner_id', from_user_id, 'pool_id', NULL),
                   jsonb_build_object('owner_id', NULL, 'pool_id', %s::bigint)
              FROM moved
        )
        SELECT count(*) FROM moved
    """  # noqa: S608  (identifiers are quoted model tables; values are parameters)
    args = [
        *params,
        pool.pk, now,
        pool.pk, OwnershipReason.RECLAIMED.value, now,
        now, ctx["actor_label"], ctx["request_id"], AuditAction.UPDATE.value, ctx["content_type_id"], pool.pk,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        # JIT compilation costs ~20-40 ms per statement and saves nothing on these index-driven chunks.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(statement, args)
        return cursor.fetchone()[0]


def _reclaim_chunk_generic(due: QuerySet, pool: Pool, now: dt.datetime, ctx: dict) -> int:
    """SQLite (and anything else): inside one IMMEDIATE transaction (writers are serialised), read
    the due rows, move them with one UPDATE on the same conditions, bulk-insert history and audit."""
    rows = list(due.values_list("id", "owner_id", "name"))
    if not rows:
        return 0
    moved = due.update(owner=None, owned_since=None, pool=pool, updated_at=now)
    if moved != len(rows):  # cannot happen while this transaction holds the write lock
        raise RuntimeError(f"reclaim moved {moved} rows, expected {len(rows)}")
    OwnershipChange.objects.bulk_create(
        [
            OwnershipChange(
                customer_id=cid, from_user_id=owner_id, pool=pool, reason=OwnershipReason.RECLAIMED, at=now
            )  # fmt: skip
            for cid, owner_id, _name in rows
        ],
        batch_size=2_000,
    )
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                created_at=now,
                actor_label=ctx["actor_label"],
                request_id=ctx["request_id"],
                action=AuditAction.UPDATE,
                content_type_id=ctx["content_type_id"],
                object_id=cid,
                object_repr=name[:200],
                before=_ownership_snapshot(owner_id, None),
                after=_ownership_snapshot(None, pool.pk),
            )  # fmt: skip
            for cid, owner_id, name in rows
        ],
        batch_size=1_000,
    )
    return moved


def _warn_owners(pool: Pool, owners: QuerySet, now: dt.datetime) -> tuple[int, int]:
    """Tell each owner, once per local day, how many of their customers return to the pool within the
    pool's warning period (one digest per owner, not one message per customer: a sweep over a million
    customers must not send a hundred thousand notifications). Returns (owners at risk, sent)."""
    from guanxi.messaging.actions import notify
    from guanxi.messaging.models import Notification

    if not pool.warn_days:
        return 0, 0
    at_risk = due_queryset(pool, owners, now + dt.timedelta(days=pool.warn_days))
    counts = dict(at_risk.order_by().values("owner_id").annotate(n=Count("id")).values_list("owner_id", "n"))
    if not counts:
        return 0, 0
    day = timezone.localdate(now).isoformat()
    keys = {owner_id: f"pool-warn:{owner_id}:{day}" for owner_id in counts}
    done = set(
        Notification.objects.filter(dedupe_key__in=list(keys.values())).values_list("dedupe_key", flat=True)
    )
    todo = [owner_id for owner_id, key in keys.items() if key not in done]
    users = User.objects.in_bulk(todo)
    url = reverse("pool:at_risk")
    sent = 0
    for owner_id in todo:
        user = users.get(owner_id)
        if user is None:
            continue
        count = counts[owner_id]
        names = list(
            at_risk.filter(owner_id=owner_id)
            .order_by(FOLLOW_UP_CLOCK, "id")
            .values_list("name", flat=True)[:WARNING_NAMES]
        )
        title = ngettext(
            "%(count)d of your customers returns to the public pool within %(days)d days",
            "%(count)d of your customers return to the public pool within %(days)d days",
            count,
        ) % {"count": count, "days": pool.warn_days}
        listed = "、".join(names) + ("…" if count > len(names) else "")
        body = _("Follow up to keep them: %(names)s") % {"names": listed}
        with transaction.atomic():
            if notify(user, kind="pool.warning", title=title, body=body, url=url, dedupe_key=keys[owner_id]):
                sent += 1
    return len(counts), sent


def reclaim_sweep(now: dt.datetime | None = None, chunk: int = 50_000) -> dict[str, Any]:
    """Return every due customer to its owner's pool and warn owners of customers due soon.

    Per pool, per rule and per id range of `chunk` customers: one statement (its own short
    transaction). Idempotent: reclaimed customers have no owner any more, and warnings are
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
    ctx = {
        "actor_label": audit.actor_label(None),
        "request_id": current_request_id(),
        "content_type_id": ContentType.objects.get_for_model(Customer).pk,
    }
    move = _reclaim_chunk_postgresql if connection.vendor == "postgresql" else _reclaim_chunk_generic
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
                        moved = move(due, pool, now, ctx)
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
