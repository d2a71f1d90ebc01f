"""Lead assignment rules (线索分配规则): which rule a lead matches, and editing rules.

The only code that writes assignment rules. Same rules as every action: permission and data scope
first (a rule's members must all be in the editor's data scope), one transaction, audit entries,
nothing written when nothing changes. Assigning a lead by its rule is `assignment.py`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core import audit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, User
from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users
from guanxi.customers.models import Channel, Customer, Tier
from guanxi.engagement.models import AssignmentRule, AssignmentStrategy

log = logging.getLogger(__name__)

CONDITION_KEYS = ("source", "province", "city", "industry", "tier")
MAX_FIRST_RESPONSE_MINUTES = 30 * 24 * 60


# --------------------------------------------------------------------------- rules: matching


_REGION_SUFFIXES = (
    "特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "地区", "省", "市",
)  # fmt: skip


def fold_condition_value(key: str, value: Any) -> str:
    """Compare condition values loosely: traditional/simplified, case, and 浙江省 == 浙江."""
    text = normalize.to_simplified(str(value or "")).strip().casefold()
    if key in ("province", "city"):
        for suffix in _REGION_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix) + 1:
                return text[: -len(suffix)]
    return text


def rule_matches(rule: AssignmentRule, customer: Customer) -> bool:
    """Every condition holds: each is a list of allowed values, an empty list allows anything.
    An unknown key never matches (a typo must not turn a narrow rule into a catch-all)."""
    conditions = rule.conditions or {}
    if not isinstance(conditions, dict):
        return False
    for key, allowed in conditions.items():
        if key not in CONDITION_KEYS:
            log.warning("assignment rule %s has an unknown condition %r", rule.pk, key)
            return False
        if isinstance(allowed, str):
            allowed = [allowed]
        if not allowed:
            continue
        value = fold_condition_value(key, getattr(customer, key))
        if value not in {fold_condition_value(key, a) for a in allowed}:
            return False
    return True


def active_rules() -> list[AssignmentRule]:
    return list(AssignmentRule.objects.filter(is_active=True).order_by("position", "pk"))


def match_rule(customer: Customer, rules: Sequence[AssignmentRule] | None = None) -> AssignmentRule | None:
    """The first active rule by position whose conditions all match the customer."""
    for rule in active_rules() if rules is None else rules:
        if rule.is_active and rule_matches(rule, customer):
            return rule
    return None


# --------------------------------------------------------------------------- rules: editing


def _split_values(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = re.split(r"[,，、;；\n]+", raw)
    return [str(v).strip() for v in raw if str(v).strip()]


def check_members_in_scope(user_ids: Iterable[int], *, actor) -> None:
    ids = set(user_ids)
    if actor is not None and ids - set(
        assignable_users(actor).filter(pk__in=ids).values_list("pk", flat=True)
    ):
        raise PermissionDenied(_("This rule includes reps outside your data scope."))


def clean_rule_input(data: dict[str, Any], *, actor) -> dict[str, Any]:
    """Validate rule input from the page or the API. Raises ValidationError (a message per field)."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    try:
        cleaned["name"] = normalize.clean_text(str(data.get("name") or ""), max_length=100)
    except normalize.NormalizationError as exc:
        errors["name"] = [
            _("This field is required.")
            if exc.code == "empty"
            else _("Must be at most %(max)d characters.") % {"max": 100}
        ]
    strategy = data.get("strategy") or AssignmentStrategy.ROUND_ROBIN
    if strategy not in AssignmentStrategy.values:
        errors["strategy"] = [_("Select a valid choice.")]
    cleaned["strategy"] = strategy
    limits = {"position": (0, 32767, 0), "first_response_minutes": (1, MAX_FIRST_RESPONSE_MINUTES, 120)}
    for field, (low, high, default) in limits.items():
        raw = data.get(field)
        value = default if raw in (None, "") else (int(raw) if str(raw).strip().isdigit() else None)
        if value is None or not low <= value <= high:
            errors[field] = [
                _("Enter a whole number between %(low)d and %(high)d.") % {"low": low, "high": high}
            ]
        cleaned[field] = value
    cleaned["is_active"] = bool(data.get("is_active", True))

    raw_conditions = data.get("conditions") or {}
    conditions: dict[str, list[str]] = {}
    if not isinstance(raw_conditions, dict):
        errors["conditions"] = [_("Invalid value.")]
        raw_conditions = {}
    for key in sorted(set(raw_conditions) - set(CONDITION_KEYS)):
        errors.setdefault("conditions", []).append(_("Unknown condition: %(key)s.") % {"key": key})
    choices = {"source": Channel.values, "tier": Tier.values}
    for key in CONDITION_KEYS:
        raw = raw_conditions.get(key)
        values = list(dict.fromkeys(_split_values(raw)))
        if key == "tier" and isinstance(raw, list | tuple) and "" in raw:
            values = ["", *values]  # "not tiered" is a value of its own
        if key in choices:
            bad = [v for v in values if v not in choices[key]]
            if bad:
                errors.setdefault(key, []).append(
                    _("Unknown value: %(values)s.") % {"values": ", ".join(bad)}
                )
        elif any(len(v) > 50 or "<" in v or ">" in v for v in values):
            errors.setdefault(key, []).append(_("Each value must be at most 50 characters, without < or >."))
        conditions[key] = values
    cleaned["conditions"] = conditions

    member_ids = []
    for raw in data.get("member_ids") or []:
        if not str(raw).isdigit():
            errors.setdefault("member_ids", []).append(_("Select active users."))
            break
        member_ids.append(int(raw))
    member_ids = sorted(set(member_ids))
    found = set(User.objects.filter(pk__in=member_ids, is_active=True).values_list("pk", flat=True))
    if len(found) != len(member_ids):
        errors.setdefault("member_ids", []).append(_("Select active users."))
    elif not member_ids:
        errors.setdefault("member_ids", []).append(_("Select at least one rep."))
    cleaned["member_ids"] = member_ids
    if errors:
        raise ValidationError(errors)
    check_members_in_scope(member_ids, actor=actor)
    return cleaned


def rule_snapshot(rule: AssignmentRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "position": rule.position,
        "is_active": rule.is_active,
        "strategy": rule.strategy,
        "conditions": rule.conditions,
        "first_response_minutes": rule.first_response_minutes,
        "member_ids": sorted(rule.members.values_list("pk", flat=True)) if rule.pk else [],
    }


def _rule_for_write(rule_id: int, *, actor) -> AssignmentRule:
    rule = AssignmentRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(rule_id)
    check_members_in_scope(rule.members.values_list("pk", flat=True), actor=actor)
    return rule


@transaction.atomic
def save_rule(data: dict[str, Any], *, actor, rule_id: int | None = None) -> AssignmentRule:
    """Create or change an assignment rule. Only holders of customer.assign whose data scope covers
    every member (old and new) may do it."""
    require(actor, Perm.CUSTOMER_ASSIGN)
    rule = _rule_for_write(rule_id, actor=actor) if rule_id is not None else AssignmentRule()
    cleaned = clean_rule_input(data, actor=actor)
    before = rule_snapshot(rule) if rule.pk else None
    for field in ("name", "position", "is_active", "strategy", "conditions", "first_response_minutes"):
        setattr(rule, field, cleaned[field])
    rule.save()
    rule.members.set(cleaned["member_ids"])
    after = rule_snapshot(rule)
    if before is None:
        audit.record(AuditAction.CREATE, rule, actor=actor, before=None, after=after)
        return rule
    b, a = audit.diff(before, after)
    if a:
        audit.record(AuditAction.UPDATE, rule, actor=actor, before=b, after=a)
    return rule


@transaction.atomic
def delete_rule(rule_id: int, *, actor) -> None:
    """Delete a rule; its past assignments keep their history (their rule becomes empty)."""
    require(actor, Perm.CUSTOMER_ASSIGN)
    rule = _rule_for_write(rule_id, actor=actor)
    before = rule_snapshot(rule)
    audit.record(AuditAction.DELETE, rule, actor=actor, before=before, after=None)
    rule.delete()
