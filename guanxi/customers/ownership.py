"""Customer ownership: the one writer of `Customer.owner`, `owned_since` and `pool`.

`change_owner(customer_ids, to_user, *, reason, actor)` is the only code that changes who owns a
customer: the edit form and the API, claiming from / releasing to a public pool, the reclaim sweep,
lead assignment, handover and bulk transfer all call it, single or in bulk, and every one of them
gets the same result per customer that changed hands:

- `owner` = the new owner, `owned_since` = now (None when unowned), `pool` = None when owned, the
  pool when released or reclaimed;
- exactly one ownership-history row (written by the registered policy, see below);
- one audit entry (before/after of owner_id and pool_id);
- one `customer.assigned` event with payload `from_owner_id`, `to_owner_id`, `reason`, `pool_id`.

Set-based: the rows are locked with one query, moved with one UPDATE per (owner, pool) pair and
chunk, and history, audit entries and events are bulk inserts, so a 50,000-customer sweep chunk
costs a handful of statements. On PostgreSQL, a system move of a queryset to a named pool (the
reclaim sweep) is one statement: the locking SELECT, the UPDATE ... RETURNING and the INSERT ...
SELECTs of history, audit and events as data-modifying CTEs, so the rows never travel to Python
and back (`_to_pool_postgresql`).

Public pools live in `engagement` (above this app in the layering), so their rules reach ownership
through a policy registered at start-up (`register_policy`, from `EngagementConfig.ready()`): the
policy completes the moves (which pool a released customer goes to; a person taking a pool
customer is a *claim*, checked against the pool's membership, claim limit and cooldown) and writes
the ownership history. This module imports nothing from the apps above it.

Creating a customer is not an owner *change*: `initial_state()` gives the owner fields of a new row
(`owned_since` = the creation time when it has an owner) and no history row is written — the
creation's own audit entry and `customer.created` event carry the owner.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit, events
from guanxi.core.bulk import Column, ObjectRef, Sql, jit_off
from guanxi.core.converters import as_id
from guanxi.core.models import AuditAction, User
from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users
from guanxi.customers.models import Customer, OwnershipReason

CUSTOMER_ASSIGNED = "customer.assigned"
CHUNK = 500  # ids per IN list (SQLite allows 32,766 variables per statement)
PG_CHUNK = 10_000  # PostgreSQL: fewer, larger statements (a statement takes up to 65,535 parameters)


def _chunk() -> int:
    return PG_CHUNK if connection.vendor == "postgresql" else CHUNK


class OwnershipRefused(Exception):
    """An owner change the rules refuse (e.g. a pool's claim limit). `message` is translated and safe
    to show; `code` says which rule."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


@dataclass
class Move:
    """One customer changing hands. `pool_id` is the pool involved (claimed from, released or
    reclaimed to, or left), for the history and the event."""

    customer_id: int
    name: str
    from_owner_id: int | None
    from_pool_id: int | None
    to_owner_id: int | None
    to_pool_id: int | None
    reason: str
    involved_pool_id: int | None = None

    def customer(self) -> ObjectRef:
        """The customer as the bulk audit and event writers need it (model, id and name)."""
        return ObjectRef(Customer, self.customer_id, self.name)


class OwnershipPolicy(Protocol):
    def prepare(self, moves: list[Move], *, actor, now: dt.datetime) -> None:
        """Complete the moves (pools, reasons) and raise OwnershipRefused when a rule forbids one."""

    def record(self, moves: list[Move], *, actor, now: dt.datetime) -> None:
        """Write one ownership-history row per move."""

    def record_sql(self, moved: str, *, actor, now: dt.datetime) -> Sql:
        """The same as an INSERT ... SELECT from the CTE `moved`, whose columns are Move's fields
        (PostgreSQL, moves of the system to a named pool: their `prepare` has nothing to decide)."""


_policies: list[OwnershipPolicy] = []


def register_policy(policy: OwnershipPolicy) -> OwnershipPolicy:
    """Called from an AppConfig.ready() (engagement: public pools and the ownership history)."""
    if not any(type(p) is type(policy) for p in _policies):
        _policies.append(policy)
    return policy


def initial_state(owner_id: int | None, *, at: dt.datetime) -> dict[str, Any]:
    """The ownership fields of a customer being created (not a change: no history row)."""
    return {"owner_id": owner_id, "owned_since": at if owner_id is not None else None, "pool_id": None}


def check_initial_owner(actor, owner_id: int | None) -> None:
    """Creating a customer for someone other than oneself (or unowned) needs the assign permission and
    a user within one's data scope."""
    if actor is None or owner_id == actor.pk:
        return
    if not actor.has_perm_code(Perm.CUSTOMER_ASSIGN):
        raise PermissionDenied(_("You may not assign customers to other users."))
    if owner_id is not None and not assignable_users(actor).filter(pk=owner_id).exists():
        raise ValidationError(
            {"owner_id": [_("You may only assign customers to users within your data scope.")]}
        )


def _check_permission(moves: Sequence[Move], actor) -> None:
    """Taking an unowned customer for oneself needs nothing more here (the pool policy makes it a
    claim); an owner may release their own customers; anything else needs `customer.assign` and a
    receiver within the actor's data scope."""
    if not isinstance(actor, User):
        return  # the system (worker, sweeps)
    assigner = actor.has_perm_code(Perm.CUSTOMER_ASSIGN)
    targets = set()
    for move in moves:
        if move.to_owner_id is None:
            if move.from_owner_id != actor.pk and not assigner:
                raise PermissionDenied(_("You may only release your own customers."))
        elif move.to_owner_id == actor.pk and move.from_owner_id is None:
            continue
        elif not assigner:
            raise PermissionDenied(_("You may not assign customers to other users."))
        else:
            targets.add(move.to_owner_id)
    if targets and assignable_users(actor).filter(pk__in=targets).count() != len(targets):
        raise ValidationError(
            {"owner_id": [_("You may only assign customers to users within your data scope.")]}
        )


def _lock(customers: Iterable[Any] | QuerySet, *, skip_locked: bool) -> list[tuple]:
    def locked(qs: QuerySet) -> list[tuple]:
        return list(
            qs.select_for_update(of=("self",), skip_locked=skip_locked)
            .order_by("pk")
            .values_list("pk", "name", "owner_id", "pool_id")
        )

    if isinstance(customers, QuerySet):
        return locked(customers.alive())
    ids = sorted({i for i in (as_id(v) for v in customers) if i is not None})
    rows: list[tuple] = []
    chunk = _chunk()
    for start in range(0, len(ids), chunk):
        rows += locked(Customer.objects.alive().filter(pk__in=ids[start : start + chunk]))
    return rows


@transaction.atomic
def change_owner(
    customer_ids: Iterable[Any] | QuerySet,
    to_user: User | None,
    *,
    reason: str,
    actor,
    now: dt.datetime | None = None,
    pool_id: int | None = None,
    audit_note: dict[str, Any] | None = None,
    skip_locked: bool = False,
    check_permission: bool = True,
) -> list[Move]:
    """Give live customers to `to_user` (None: back to a public pool). Returns the moves made.

    `customer_ids`: ids, or a queryset of customers (locked with the query's own conditions, so a
    sweep's "still due?" is re-checked under the lock). Scope is the caller's business: pass only
    customers the actor may act on. Customers already where they are asked to go are left alone
    (no history, audit or event). `pool_id`: the pool released/reclaimed customers go to (default:
    the pool of their owner, chosen by the pool policy). `audit_note`: added to each audit entry's
    "after" (e.g. a release reason). `skip_locked`: leave rows another transaction holds (sweeps pick them up next time).
    Raises PermissionDenied, ValidationError or OwnershipRefused before anything is written.
    """
    now = now or timezone.now()
    if (
        to_user is None
        and pool_id is not None
        and not isinstance(actor, User)
        and reason in (OwnershipReason.RECLAIMED, OwnershipReason.RELEASED)
        and isinstance(customer_ids, QuerySet)
        and connection.vendor == "postgresql"
    ):
        return _to_pool_postgresql(customer_ids, pool_id, reason=reason, actor=actor, now=now,
                                   audit_note=audit_note or {}, skip_locked=skip_locked)  # fmt: skip
    to_id = to_user.pk if to_user is not None else None
    moves = [
        Move(pk, name, owner_id, current_pool, to_id, pool_id if to_id is None else None, reason)
        for pk, name, owner_id, current_pool in _lock(customer_ids, skip_locked=skip_locked)
        if owner_id != to_id or (to_id is None and pool_id is not None and current_pool != pool_id)
    ]
    if not moves:
        return []
    if check_permission:
        _check_permission(moves, actor)
    for policy in _policies:
        policy.prepare(moves, actor=actor, now=now)

    chunk = _chunk()
    groups: dict[tuple[int | None, int | None], list[int]] = defaultdict(list)
    for move in moves:
        groups[(move.to_owner_id, move.to_pool_id)].append(move.customer_id)
    for (owner_id, target_pool), ids in groups.items():
        for start in range(0, len(ids), chunk):
            Customer.objects.filter(pk__in=ids[start : start + chunk]).update(
                owner_id=owner_id,
                owned_since=now if owner_id is not None else None,
                pool_id=target_pool,
                updated_at=now,
            )
    for policy in _policies:
        policy.record(moves, actor=actor, now=now)
    audit.record_many(
        AuditAction.UPDATE,
        (
            (
                move.customer(),
                {"owner_id": move.from_owner_id, "pool_id": move.from_pool_id},
                {"owner_id": move.to_owner_id, "pool_id": move.to_pool_id, **(audit_note or {})},
            )
            for move in moves
        ),
        actor=actor,
    )
    events.emit_many(
        CUSTOMER_ASSIGNED,
        (
            (
                move.customer(),
                {
                    "from_owner_id": move.from_owner_id,
                    "to_owner_id": move.to_owner_id,
                    "reason": move.reason,
                    "pool_id": move.involved_pool_id,
                },
            )
            for move in moves
        ),
        actor=actor,
    )
    return moves


MOVE_COLUMNS = ("customer_id", "name", "from_owner_id", "from_pool_id", "to_owner_id", "to_pool_id",
                "reason", "involved_pool_id")  # fmt: skip


def _to_pool_postgresql(
    customers: QuerySet,
    pool_id: int,
    *,
    reason: str,
    actor,
    now: dt.datetime,
    audit_note: dict[str, Any],
    skip_locked: bool,
) -> list[Move]:
    """The system sending a queryset of customers to one pool, as one statement (PostgreSQL): lock
    the rows still matching the queryset (and not already unowned in that pool), move them, and
    write the policies' history, the audit entries and the events with INSERT ... SELECT from the
    moved rows. Same rows as the general path; only the round trips are saved."""
    due = (
        customers.alive()
        .filter(Q(owner__isnull=False) | ~Q(pool_id=pool_id))
        .select_for_update(of=("self",), skip_locked=skip_locked)
        .order_by()
        .values("id", "name", "owner_id", "pool_id")
    )
    due_sql, due_params = due.query.sql_with_params()
    quote = connection.ops.quote_name
    parts = [
        Sql(f"due AS ({due_sql})", list(due_params)),
        Sql(
            f"""moved AS (
                UPDATE {quote(Customer._meta.db_table)} AS c
                   SET owner_id = NULL, owned_since = NULL, pool_id = %s, updated_at = %s
                  FROM due
                 WHERE c.id = due.id
             RETURNING c.id AS customer_id, due.name AS name, due.owner_id AS from_owner_id,
                       due.pool_id AS from_pool_id, NULL::bigint AS to_owner_id,
                       c.pool_id AS to_pool_id, %s::text AS reason, c.pool_id AS involved_pool_id)""",  # noqa: S608
            [pool_id, now, str(reason)],
        ),
    ]
    parts += [
        Sql(f"history_{i} AS ({sql.text})", sql.params)
        for i, sql in enumerate(policy.record_sql("moved", actor=actor, now=now) for policy in _policies)
    ]
    audit_sql = audit.record_many_sql(
        AuditAction.UPDATE, Customer, "moved", pk=Column("customer_id"), label=Column("name"),
        before={"owner_id": Column("from_owner_id"), "pool_id": Column("from_pool_id")},
        after={"owner_id": None, "pool_id": Column("to_pool_id"), **audit_note},
        actor=actor,
    )  # fmt: skip
    parts.append(Sql(f"audit_entries AS ({audit_sql.text})", audit_sql.params))
    event_sql = events.emit_many_sql(
        CUSTOMER_ASSIGNED, Customer, "moved", pk=Column("customer_id"),
        payload={"from_owner_id": Column("from_owner_id"), "to_owner_id": None, "reason": Column("reason"),
                 "pool_id": Column("involved_pool_id")},
        actor=actor,
    )  # fmt: skip
    if event_sql is not None:
        parts.append(Sql(f"new_events AS ({event_sql.text})", event_sql.params))
        tail = "SELECT m.*, e.id FROM moved m JOIN new_events e ON e.object_id = m.customer_id"
    else:
        tail = "SELECT m.*, NULL FROM moved m"
    statement = "WITH " + ",\n".join(p.text for p in parts) + "\n" + tail
    jit_off()
    with connection.cursor() as cursor:
        cursor.execute(statement, [param for p in parts for param in p.params])
        rows = cursor.fetchall()
    events.enqueue_on_commit([row[-1] for row in rows if row[-1] is not None])
    return [Move(**dict(zip(MOVE_COLUMNS, row[:-1], strict=True))) for row in rows]


__all__ = [
    "CUSTOMER_ASSIGNED",
    "Move",
    "OwnershipPolicy",
    "OwnershipReason",
    "OwnershipRefused",
    "change_owner",
    "check_initial_owner",
    "initial_state",
    "register_policy",
]
