"""Company-wide settings kept in the database (edited by administrators, audited)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from guanxi.core import audit
from guanxi.core.exceptions import require
from guanxi.core.models import AuditAction, Setting
from guanxi.core.permissions import Perm

DEFAULTS: dict[str, Any] = {
    # What creating a customer does when an exact identifier already exists: block | warn | merge.
    "customers.duplicate_policy": "warn",
    # Required fields per lifecycle stage (data quality), e.g. {"active": ["phone", "city"]}.
    "customers.required_fields_by_stage": {},
    # Overdue reminders repeat per customer tier (hours), so key accounts are chased and others
    # do not flood people (提醒疲劳); "" is for untiered customers and tasks without a customer.
    "engagement.reminder_interval_hours": {"A": 24, "B": 72, "C": 168, "": 72},
    # An overdue task escalates to the owner's manager this many hours after the owner was told.
    "engagement.escalation_hours": 24,
    # A deal whose discount is above this percentage needs approval before it moves to another stage
    # (the example approval flow; changing it updates that flow's condition).
    "sales.discount_approval_percent": 15,
}


def get(key: str) -> Any:
    row = Setting.objects.filter(key=key).values_list("value", flat=True).first()
    return DEFAULTS.get(key) if row is None else row


@transaction.atomic
def put(key: str, value: Any, *, actor) -> Setting:
    require(actor, Perm.SETTINGS_MANAGE)
    if key not in DEFAULTS:
        raise KeyError(key)
    setting = Setting.objects.select_for_update().filter(key=key).first()
    before = get(key)
    if setting is None:
        setting = Setting.objects.create(key=key, value=value, updated_by=actor if actor else None)
    elif setting.value != value:
        setting.value = value
        setting.updated_by = actor if actor else None
        setting.save(update_fields=["value", "updated_by", "updated_at"])
    else:
        return setting
    audit.record(AuditAction.UPDATE, setting, actor=actor, before={"value": before}, after={"value": value})
    return setting
