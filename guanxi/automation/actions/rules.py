"""Saving rules: validation of the whole definition, versions, enabling, deleting.

`clean_rule(data)` is the only way a definition gets in (pages, API, templates): it returns the
cleaned definition or raises ValidationError keyed by part ("trigger", "conditions", "actions"),
each message naming the step or condition at fault. Nothing is saved when any part is wrong.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from huey import crontab

from guanxi.automation import conditions as cond
from guanxi.automation.fields import OBJECT_TYPES, Catalogue
from guanxi.automation.models import Rule, RuleVersion, TriggerType
from guanxi.automation.steps import STEP_TYPES
from guanxi.core import audit
from guanxi.core.converters import as_id
from guanxi.core.events import emit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction
from guanxi.core.permissions import Perm
from guanxi.customization.models import CustomObject, FieldType
from guanxi.customization.registry.cleaning import clean_filter_value
from guanxi.customization.registry.operators import DATE_TYPES, Op
from guanxi.engagement.fields import TASK

MAX_STEPS = 20
MAX_BRANCH_DEPTH = 2
EVENT_TRIGGERS = {TriggerType.CREATED, TriggerType.UPDATED, TriggerType.FIELD_CHANGED, TriggerType.STAGE_CHANGED,
                  TriggerType.DELETED, TriggerType.WEBHOOK}  # fmt: skip
# Which trigger types each object offers (the events its app emits).
TRIGGERS_BY_OBJECT = {
    CustomObject.CUSTOMER: [TriggerType.CREATED, TriggerType.UPDATED, TriggerType.FIELD_CHANGED, TriggerType.DELETED,
                            TriggerType.RELATIVE_TIME, TriggerType.SCHEDULE, TriggerType.WEBHOOK, TriggerType.MANUAL],
    CustomObject.DEAL: [TriggerType.CREATED, TriggerType.UPDATED, TriggerType.FIELD_CHANGED, TriggerType.STAGE_CHANGED,
                        TriggerType.RELATIVE_TIME, TriggerType.SCHEDULE, TriggerType.MANUAL],
    CustomObject.ORDER: [TriggerType.CREATED, TriggerType.RELATIVE_TIME, TriggerType.SCHEDULE, TriggerType.MANUAL],
    CustomObject.FOLLOW_UP: [TriggerType.CREATED, TriggerType.MANUAL],
    TASK: [TriggerType.CREATED, TriggerType.UPDATED, TriggerType.FIELD_CHANGED, TriggerType.RELATIVE_TIME,
           TriggerType.SCHEDULE, TriggerType.MANUAL],
}  # fmt: skip
CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")


def _int(value: Any, label: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not str(value).strip().lstrip("-").isdigit() or len(str(value).strip()) > 9:
        raise ValidationError(_("%(part)s: enter a whole number.") % {"part": label})
    number = int(str(value).strip())
    if not low <= number <= high:
        raise ValidationError(
            _("%(part)s: must be between %(low)d and %(high)d.") % {"part": label, "low": low, "high": high}
        )
    return number


def clean_trigger(trigger: Any, object_type: str) -> dict[str, Any]:
    if not isinstance(trigger, dict):
        raise ValidationError(_("Choose a trigger."))
    kind = str(trigger.get("type") or "")
    if kind not in TRIGGERS_BY_OBJECT.get(object_type, []):
        raise ValidationError(
            _("This trigger is not available for this object: %(type)s.") % {"type": kind[:40] or "—"}
        )
    cleaned: dict[str, Any] = {"type": kind}
    catalogue = Catalogue(object_type)
    if kind == TriggerType.FIELD_CHANGED:
        spec = catalogue.get(str(trigger.get("field") or ""))
        if spec is None or not spec.filterable:
            raise ValidationError(
                _("Trigger: unknown field %(field)s.") % {"field": str(trigger.get("field"))[:60]}
            )
        cleaned["field"] = spec.ref
        for side in ("from", "to"):
            if trigger.get(side) not in (None, ""):
                try:
                    cleaned[side] = clean_filter_value(spec, Op.EQ, trigger[side])
                except ValidationError as exc:
                    raise ValidationError(
                        _("Trigger: %(error)s") % {"error": " ".join(exc.messages)}
                    ) from None
                cleaned[side] = audit.json_value(cleaned[side])
    elif kind == TriggerType.STAGE_CHANGED:
        from guanxi.sales.models import Stage, StageOutcome

        if trigger.get("outcome") not in (None, ""):
            if trigger["outcome"] not in StageOutcome.values:
                raise ValidationError(_("Trigger: choose won, lost or open."))
            cleaned["outcome"] = trigger["outcome"]

        for side in ("from_stage_id", "to_stage_id"):
            value = trigger.get(side)
            if value not in (None, ""):
                if as_id(value) is None or not Stage.objects.filter(pk=as_id(value)).exists():
                    raise ValidationError(_("Trigger: choose an existing stage."))
                cleaned[side] = as_id(value)
    elif kind == TriggerType.RELATIVE_TIME:
        spec = catalogue.get(str(trigger.get("field") or ""))
        if spec is None or spec.type not in DATE_TYPES or spec.is_custom and spec.type not in DATE_TYPES:
            raise ValidationError(_("Trigger: choose a date field, e.g. the last order date."))
        cleaned["field"] = spec.ref
        cleaned["yearly"] = bool(trigger.get("yearly"))
        cleaned["days"] = (
            0
            if cleaned["yearly"]
            else _int(trigger.get("days", 0), _("Trigger · days"), low=-3650, high=3650)
        )
        cleaned["window_days"] = _int(
            trigger.get("window_days", 3), _("Trigger · catch-up days"), low=1, high=3650
        )
        if spec.type == FieldType.DATE and not cleaned["yearly"]:
            cleaned["at_hour"] = _int(trigger.get("at_hour", 9), _("Trigger · hour"), low=0, high=23)
    elif kind == TriggerType.SCHEDULE:
        cron = trigger.get("cron")
        parts = str(cron or "").split()
        if len(parts) != 5:
            raise ValidationError(
                _("Trigger: a schedule has five parts (minute hour day month weekday), e.g. “0 9 * * 1”.")
            )
        try:
            crontab(**dict(zip(CRON_FIELDS, parts, strict=True)))
        except (ValueError, TypeError):
            raise ValidationError(
                _("Trigger: the schedule “%(cron)s” is not valid.") % {"cron": " ".join(parts)}
            ) from None
        cleaned["cron"] = " ".join(parts)
    elif kind == TriggerType.UPDATED and trigger.get("fields"):
        fields = trigger.get("fields")
        if not isinstance(fields, list) or any(catalogue.get(str(f)) is None for f in fields):
            raise ValidationError(_("Trigger: unknown field in the list of watched fields."))
        cleaned["fields"] = [str(f) for f in fields]
    return cleaned


def clean_steps(steps: Any, object_type: str, *, depth: int = 1, prefix: str = "") -> list[dict[str, Any]]:
    """Validate an ordered list of steps; messages name the step ("Step 2.1 (Notify): ...")."""
    if not isinstance(steps, list) or (depth == 1 and not steps):
        raise ValidationError(_("Add at least one action."))
    if len(steps) > MAX_STEPS:
        raise ValidationError(_("At most %(max)d actions.") % {"max": MAX_STEPS})
    cleaned, errors = [], []
    for n, step in enumerate(steps, start=1):
        label = f"{prefix}{n}"
        kind = str(step.get("type") or "") if isinstance(step, dict) else ""
        step_type = STEP_TYPES.get(kind)
        if step_type is None:
            errors.append(
                _("Action %(n)s: unknown action type %(type)s.") % {"n": label, "type": kind[:40] or "—"}
            )
            continue
        try:
            if kind == "branch":
                if depth >= MAX_BRANCH_DEPTH + 1:
                    raise ValidationError(_("branches may be nested two levels deep at most."))
                cond.parse(step.get("conditions"), Catalogue(object_type), allow_changes=False)
                config = {
                    "conditions": step.get("conditions") or {},
                    "then": clean_steps(
                        step.get("then") or [], object_type, depth=depth + 1, prefix=f"{label}."
                    ),
                    "else": clean_steps(
                        step.get("else") or [], object_type, depth=depth + 1, prefix=f"{label}."
                    ),
                }
                if any(s["type"] == "wait" for s in [*config["then"], *config["else"]]):
                    raise ValidationError(_("a wait cannot be inside a branch."))
            else:
                config = step_type.clean(step, object_type)
        except ValidationError as exc:
            messages = exc.messages
            errors += [_("Action %(n)s (%(type)s): %(error)s") % {"n": label, "type": step_type.label, "error": m}
                       for m in messages]  # fmt: skip
            continue
        cleaned.append({"type": kind, **config})
    if errors:
        raise ValidationError(errors)
    return cleaned


def clean_rule(data: dict[str, Any], *, current: Rule | None = None) -> dict[str, Any]:
    """The cleaned definition, or ValidationError({part: [messages]}) with nothing saved."""
    errors: dict[str, list[str]] = {}
    name = str(data.get("name", current.name if current else "") or "").strip()
    if not name:
        errors["name"] = [_("This field is required.")]
    elif len(name) > 120:
        errors["name"] = [_("Must be at most %(max)d characters.") % {"max": 120}]
    object_type = str(data.get("object_type", current.object_type if current else "") or "")
    if object_type not in OBJECT_TYPES:
        errors["object_type"] = [_("Choose what the rule is about.")]
        raise ValidationError(errors)
    trigger = conditions = steps = None
    try:
        trigger = clean_trigger(data.get("trigger", current.trigger if current else None), object_type)
    except ValidationError as exc:
        errors["trigger"] = exc.messages
    raw_conditions = data.get("conditions", current.conditions if current else None)
    try:
        allow_changes = bool(trigger) and trigger["type"] in (TriggerType.UPDATED, TriggerType.FIELD_CHANGED)
        cond.parse(raw_conditions, Catalogue(object_type), allow_changes=allow_changes)
        conditions = (
            raw_conditions
            if isinstance(raw_conditions, dict)
            else ({"all": raw_conditions} if raw_conditions else {})
        )
    except ValidationError as exc:
        errors["conditions"] = exc.message_dict.get("conditions", exc.messages)
    try:
        steps = clean_steps(data.get("actions", current.actions if current else None), object_type)
    except ValidationError as exc:
        errors["actions"] = exc.messages
    description = str(data.get("description", current.description if current else "") or "")[:2000]
    if errors:
        raise ValidationError(errors)
    return {"name": name, "description": description, "object_type": object_type, "trigger": trigger,
            "conditions": conditions, "actions": steps,
            "enabled": bool(data.get("enabled", current.enabled if current else False))}  # fmt: skip


def definition(rule: Rule) -> dict[str, Any]:
    return {"name": rule.name, "description": rule.description, "object_type": rule.object_type,
            "trigger": rule.trigger, "conditions": rule.conditions, "actions": rule.actions,
            "enabled": rule.enabled}  # fmt: skip


@transaction.atomic
def save_rule(data: dict[str, Any], *, actor, rule_id: int | None = None, template_key: str = "") -> Rule:
    """Create a rule or save a new version of it (the previous version is kept)."""
    require(actor, Perm.SETTINGS_MANAGE)
    if getattr(actor, "pk", None) is None:  # a rule acts as its owner: the system cannot own one
        raise ValidationError({"owner": [_("A rule needs a user as its owner.")]})
    current = None
    if rule_id is not None:
        current = Rule.objects.select_for_update().filter(pk=rule_id, deleted_at__isnull=True).first()
        if current is None:
            raise NotFound(rule_id)
    cleaned = clean_rule(data, current=current)
    cleaned["actions"] = _with_endpoints(cleaned["actions"], name=cleaned["name"], actor=actor)
    now = timezone.now()
    if current is None:
        rule = Rule.objects.create(
            **cleaned, owner=actor, template_key=template_key, created_at=now, updated_at=now
        )
        before = None
    else:
        before = definition(current)
        if before == cleaned:
            return current
        rule = current
        for key, value in cleaned.items():
            setattr(rule, key, value)
        rule.version += 1
        rule.updated_at = now
        rule.save()
    RuleVersion.objects.create(
        rule=rule, version=rule.version, definition=cleaned, created_by=actor, created_at=now
    )
    audit.record(AuditAction.CREATE if before is None else AuditAction.UPDATE, rule, actor=actor, before=before,
                 after=cleaned)  # fmt: skip
    emit(
        "automation.rule_saved", rule, actor=actor, payload={"version": rule.version, "enabled": rule.enabled}
    )
    return rule


def _with_endpoints(steps: list[dict], *, name: str, actor) -> list[dict]:
    """Webhook steps given a URL call an endpoint of their own: the one used only by rules with
    that URL, or a new one (its signing secret is on the webhooks page)."""
    from guanxi.webhooks.actions import create_endpoint
    from guanxi.webhooks.models import WebhookEndpoint

    result = []
    for step in steps:
        if step["type"] == "branch":
            step = {**step, "then": _with_endpoints(step["then"], name=name, actor=actor),
                    "else": _with_endpoints(step["else"], name=name, actor=actor)}  # fmt: skip
        elif step["type"] == "webhook" and "url" in step:
            url = step.pop("url")
            endpoint = WebhookEndpoint.objects.filter(url=url, event_types=[]).order_by("pk").first()
            if endpoint is None:
                endpoint = create_endpoint({"name": name[:100], "url": url}, actor=actor)
            step = {"type": "webhook", "endpoint_id": endpoint.pk, **step}
        result.append(step)
    return result


@transaction.atomic
def set_enabled(rule_id: int, enabled: bool, *, actor) -> Rule:
    rule = Rule.objects.filter(pk=rule_id, deleted_at__isnull=True).first()
    if rule is None:
        raise NotFound(rule_id)
    return save_rule({**definition(rule), "enabled": enabled}, actor=actor, rule_id=rule_id)


@transaction.atomic
def delete_rule(rule_id: int, *, actor) -> None:
    require(actor, Perm.SETTINGS_MANAGE)
    rule = Rule.objects.select_for_update().filter(pk=rule_id, deleted_at__isnull=True).first()
    if rule is None:
        raise NotFound(rule_id)
    rule.deleted_at = timezone.now()
    rule.enabled = False
    rule.save(update_fields=["deleted_at", "enabled"])
    audit.record(AuditAction.DELETE, rule, actor=actor, before={"enabled": True}, after=None)


def install_template(key: str, *, actor, enabled: bool = False) -> Rule:
    """A rule from one of the shipped templates (installed disabled unless asked)."""
    from guanxi.automation.templates import BY_KEY

    template = BY_KEY.get(key)
    if template is None:
        raise NotFound(key)
    return save_rule({**template.definition, "enabled": enabled}, actor=actor, template_key=key)
