"""Public pools (公海): which pool a customer belongs to, claiming and releasing.

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
- Every owner change goes through `change_owner`; the pool's rules reach it through
  `PoolOwnershipPolicy` (registered at start-up): a person taking a pool customer by any path (the
  claim button, the edit form, the API) is a claim under the pool's membership, limit and cooldown.
- The reclaim sweep and the warnings before it are `reclaim.py`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guanxi.core import audit
from guanxi.core.bulk import Column, Sql, insert_rows, insert_select
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, Department, User
from guanxi.core.permissions import Perm
from guanxi.customers.models import Customer
from guanxi.customers.ownership import Move, OwnershipRefused, change_owner
from guanxi.customers.queries import search_q
from guanxi.engagement.models import OwnershipChange, OwnershipReason, Pool

CLAIM_WINDOW = dt.timedelta(hours=24)  # the claim limit counts claims in this rolling window
RELEASE_REASON_MAX = 200


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
        actor_id = actor.pk if isinstance(actor, User) else None
        insert_rows(
            OwnershipChange,
            ("customer_id", "from_user_id", "to_user_id", "pool_id", "reason", "at", "actor_id"),
            (
                (m.customer_id, m.from_owner_id, m.to_owner_id, m.involved_pool_id, m.reason, now, actor_id)
                for m in moves
            ),
        )

    def record_sql(self, moved: str, *, actor, now: dt.datetime) -> Sql:
        """`record` as an INSERT ... SELECT from the moved rows (change_owner's PostgreSQL path)."""
        return insert_select(
            OwnershipChange,
            {
                "customer_id": Column("customer_id"),
                "from_user_id": Column("from_owner_id"),
                "to_user_id": Column("to_owner_id"),
                "pool_id": Column("involved_pool_id"),
                "reason": Column("reason"),
                "at": now,
                "actor_id": actor.pk if isinstance(actor, User) else None,
            },
            moved,
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
