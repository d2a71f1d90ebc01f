"""What automation adds to other apps' pages: "Run a rule" in the customer list's bar of actions on
the selected customers (the manual trigger, bulk), for users who manage rules."""

from __future__ import annotations

from typing import Any

from guanxi.automation.models import Rule, TriggerType
from guanxi.core.permissions import Perm
from guanxi.customers import panels as customer_panels
from guanxi.customization.models import CustomObject


def _manual_rules(request, _customer) -> dict[str, Any]:
    found = Rule.objects.filter(
        enabled=True,
        deleted_at__isnull=True,
        object_type=CustomObject.CUSTOMER,
        trigger__type=TriggerType.MANUAL,
    ).order_by("name")
    return {"manual_rules": list(found.values("pk", "name"))}


def register() -> None:
    customer_panels.register_card(
        "automation_run_rule", "automation/_list_run_rule.html", _manual_rules,
        slot=customer_panels.Slot.LIST_BULK, order=50, permission=Perm.SETTINGS_MANAGE,
    )  # fmt: skip
