"""Handover (离职交接) and bulk transfer (批量转移): customers, open tasks and open deals of one user
move to another.

Handover: every live customer, open task and open deal of one user moves to another in one
transaction with ownership history (`customers.ownership.change_owner`), one audit entry per moved
row, a `Handover` summary and one event (on which messaging notifies the receiver). A failure
anywhere leaves nothing moved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.events import emit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, User
from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users, user_scope_q
from guanxi.customers.models import Customer
from guanxi.customers.ownership import change_owner
from guanxi.engagement.events import AssignmentEvent
from guanxi.engagement.models import AssignmentRule, Handover, OwnershipReason, Task, TaskStatus
from guanxi.sales import actions as sales_actions

MAX_TRANSFER = 5000
CHUNK = 500  # ids per statement


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _user_or_none(actor) -> User | None:
    return actor if isinstance(actor, User) else None


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
