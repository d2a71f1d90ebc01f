"""Row-level data scopes (数据权限): one queryset filter that every read goes through."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from guanxi.core.models import User
from guanxi.core.permissions import DataScope


def subordinate_ids(user) -> set[int]:
    """The user's id and every user below them on the reporting line (any depth)."""
    children: dict[int, list[int]] = {}
    for uid, manager_id in User.objects.filter(manager__isnull=False).values_list("id", "manager_id"):
        children.setdefault(manager_id, []).append(uid)
    seen = {user.pk}
    stack = [user.pk]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def user_scope_q(user, prefix: str = "") -> Q | None:
    """Which users' records `user` may see, as a Q on the user reached through `prefix`.

    `prefix=""` filters the user table itself; `prefix="owner__"` filters records by owner.
    None means no restriction (scope "all", or the system actor).
    """
    if user is None:  # system actor (worker, CLI)
        return None
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Q(pk__in=[])
    scope = user.data_scope
    if scope == DataScope.ALL:
        return None
    own = Q(**{f"{prefix}pk": user.pk})
    if scope == DataScope.OWN:
        return own
    if scope == DataScope.OWN_AND_SUBORDINATES:
        return Q(**{f"{prefix}pk__in": sorted(subordinate_ids(user))})
    if user.department_id is None:
        return own
    if scope == DataScope.DEPARTMENT:
        return Q(**{f"{prefix}department_id": user.department_id}) | own
    if scope == DataScope.DEPARTMENT_TREE:
        return Q(**{f"{prefix}department__path__startswith": user.department.path}) | own
    raise ValueError(f"unknown data scope {scope!r}")


class ScopedQuerySet(models.QuerySet):
    """Subclasses set `owner_field`; `visible_to(user)` is the only way reads reach the database."""

    owner_field = "owner"

    def visible_to(self, user):
        q = user_scope_q(user, f"{self.owner_field}__")
        return self if q is None else self.filter(q)


def assignable_users(user):
    """Active users whose records `user` may see, i.e. to whom `user` may hand a record."""
    users = User.objects.filter(is_active=True)
    q = user_scope_q(user)
    return users if q is None else users.filter(q)
