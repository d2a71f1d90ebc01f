"""Actions on the organisation: the only code that writes users, departments, roles and tokens."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit, events
from guanxi.core.converters import as_id
from guanxi.core.events import CoreEvent, emit
from guanxi.core.exceptions import require
from guanxi.core.models import (
    ApiToken,
    AuditAction,
    Department,
    Event,
    EventDelivery,
    EventDeliveryStatus,
    Role,
    User,
)
from guanxi.core.permissions import DEFAULT_ROLES, Perm

USER_AUDIT_FIELDS = [
    "username",
    "display_name",
    "email",
    "department",
    "manager",
    "role",
    "is_active",
    "mobile",
]


def ensure_default_roles() -> dict[str, Role]:
    roles = {}
    for code, spec in DEFAULT_ROLES.items():
        role, _ = Role.objects.get_or_create(
            code=code,
            defaults={
                "name": str(spec["name"]),
                "data_scope": spec["data_scope"],
                "permissions": [str(p) for p in spec["permissions"]],
            },
        )
        roles[code] = role
    return roles


@transaction.atomic
def set_department_head(department: Department, head: User | None, *, actor=None) -> Department:
    """Name the head of a department (approvals may ask them); None clears it."""
    require(actor, Perm.ORG_MANAGE)
    department = Department.objects.select_for_update().get(pk=department.pk)
    if department.head_id == (head.pk if head else None):
        return department
    before = {"head": department.head_id}
    department.head = head
    department.save(update_fields=["head"])
    audit.record(
        AuditAction.UPDATE, department, actor=actor, before=before, after={"head": department.head_id}
    )
    return department


@transaction.atomic
def create_department(name: str, *, parent: Department | None = None, actor=None) -> Department:
    require(actor, Perm.ORG_MANAGE)
    dept = Department.objects.create(name=name, parent=parent)
    dept.path = f"{parent.path if parent else '/'}{dept.pk}/"
    dept.save(update_fields=["path"])
    audit.record(AuditAction.CREATE, dept, actor=actor, before=None, after={"name": name, "parent": parent})
    emit(CoreEvent.DEPARTMENT_CREATED, dept, actor=actor)
    return dept


def _user_snapshot(user: User) -> dict:
    return {
        f: getattr(user, f"{f}_id" if f in {"department", "manager", "role"} else f)
        for f in USER_AUDIT_FIELDS
    }


@transaction.atomic
def create_user(
    username: str,
    *,
    password: str | None,
    actor=None,
    role: Role | None = None,
    department: Department | None = None,
    manager: User | None = None,
    display_name: str = "",
    email: str = "",
    is_superuser: bool = False,
) -> User:
    require(actor, Perm.ORG_MANAGE)
    user = User(
        username=username,
        display_name=display_name,
        email=email,
        role=role,
        department=department,
        manager=manager,
        is_superuser=is_superuser,
        is_staff=is_superuser,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    audit.record(AuditAction.CREATE, user, actor=actor, before=None, after=_user_snapshot(user))
    emit(CoreEvent.USER_CREATED, user, actor=actor)
    return user


def create_api_token(user: User, name: str, *, actor) -> tuple[ApiToken, str]:
    """Create a token; returns (token, secret). The secret is shown once and never stored."""
    if actor is not None and actor.pk != user.pk:
        require(actor, Perm.ORG_MANAGE)
    secret = "gx_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, prefix=secret[:10], key_hash=ApiToken.hash_key(secret)
        )
        audit.record(
            AuditAction.CREATE, token, actor=actor, before=None, after={"name": name, "user": user.pk}
        )
    return token, secret


def authenticate_token(secret: str) -> User | None:
    """The active user owning a valid token, or None. Records last use (at most once a minute)."""
    token = (
        ApiToken.objects.select_related("user", "user__role")
        .filter(key_hash=ApiToken.hash_key(secret))
        .first()
    )
    if token is None or not token.is_valid or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


@transaction.atomic
def retry_dead_letters(delivery_ids, *, actor) -> int:
    """Give failed event deliveries (dead letters) a fresh round of attempts: they return to pending
    with their attempts reset, their events become unprocessed again and are handed to the worker
    after commit. Returns how many were retried (deliveries no longer dead are left alone)."""
    require(actor, Perm.SETTINGS_MANAGE)
    raw = [delivery_ids] if isinstance(delivery_ids, str | int) else list(delivery_ids or [])
    ids = sorted({i for i in (as_id(v) for v in raw) if i is not None})
    if not ids:
        raise ValidationError({"delivery_ids": [_("Select at least one failed delivery.")]})
    deliveries = list(
        EventDelivery.objects.select_for_update()
        .filter(pk__in=ids, status=EventDeliveryStatus.DEAD)
        .order_by("pk")
    )
    if not deliveries:
        return 0
    now = timezone.now()
    EventDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status=EventDeliveryStatus.PENDING, attempts=0, next_attempt_at=now, updated_at=now
    )
    event_ids = sorted({d.event_id for d in deliveries})
    Event.objects.filter(pk__in=event_ids).update(processed_at=None)
    audit.record_many(
        AuditAction.UPDATE,
        [
            (
                d,
                {"status": d.status, "attempts": d.attempts},
                {"status": EventDeliveryStatus.PENDING, "attempts": 0},
            )
            for d in deliveries
        ],
        actor=actor,
    )
    transaction.on_commit(lambda: events.enqueue(event_ids))
    return len(deliveries)
