"""First-run setup shared by `guanxi up` and `guanxi createadmin`."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction

from guanxi.core.actions import create_department, create_user, ensure_default_roles
from guanxi.core.models import Department, User


def admin_password_file():
    return settings.DATA_DIR / "initial_admin_password"


@transaction.atomic
def create_admin(username: str = "admin", password: str | None = None) -> tuple[User, str]:
    roles = ensure_default_roles()
    password = password or secrets.token_urlsafe(9)
    root = Department.objects.filter(parent__isnull=True).order_by("id").first()
    if root is None:
        root = create_department("总经办", actor=None)
    user = create_user(
        username,
        password=password,
        role=roles["admin"],
        department=root,
        display_name="管理员",
        is_superuser=True,
        actor=None,
    )
    return user, password


def ensure_admin() -> tuple[str, str | None, bool]:
    """(username, initial password if known, created now?)."""
    existing = User.objects.filter(is_superuser=True).order_by("id").first()
    path = admin_password_file()
    if existing is not None:
        known = path.read_text().strip() if path.exists() else None
        return existing.username, known, False
    user, password = create_admin()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password)
    path.chmod(0o600)
    return user.username, password, True
