"""The rule builder's form: posted fields <-> the rule definition the API takes.

`rule_from_form(post)` turns the builder's fields into the dict `rules.save_rule` validates (no
validation here: a wrong value goes through and `clean_rule` names the part at fault).
`form_state(definition)` turns a definition (a saved rule, or what was just posted) back into
what the builder's template shows, so a refused form is shown again as it was typed.

Field names: `trigger_*` and `cron_*` for the trigger; the filter builder's rows (`f_field`,
`f_op`, `f_value`, `f_group`) with `cond_mode`, `group` and `group_mode_<key>` for the conditions;
`step` (the order of the steps' keys) and `s<key>_<option>` for each step.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.utils.translation import gettext as _

from guanxi.automation import templating
from guanxi.automation.actions.rules import CRON_FIELDS, TRIGGERS_BY_OBJECT
from guanxi.automation.fields import OBJECT_TYPES, Catalogue
from guanxi.automation.models import TriggerType
from guanxi.automation.steps import RECIPIENTS, STEP_TYPES, settable
from guanxi.core.models import Role, User
from guanxi.customization import filter_builder
from guanxi.customization.registry import DATE_TYPES

MODES = ("all", "any")
PARTS = ("name", "object_type", "trigger", "conditions", "actions")  # shown next to their section
TEMPLATE_OPTIONS = ("title", "description", "content", "body")  # options that are message templates
# The options of each step type the builder shows (branch: JSON text, see `step_from_form`).
STEP_OPTIONS: dict[str, tuple[str, ...]] = {
    "create_task": ("title", "description", "due_in_hours", "assignee"),
    "create_follow_up": ("kind", "content"),
    "update_field": ("field", "value"),
    "add_tag": ("tag",),
    "remove_tag": ("tag",),
    "assign_owner": ("owner",),
    "move_to_pool": (),
    "start_cadence": ("cadence_id",),
    "stop_cadence": ("cadence_id",),
    "notify": ("to", "title", "body"),
    "webhook": ("endpoint_id", "url", "fields"),
    "request_approval": ("flow_id",),
    "wait": ("hours",),
    "branch": ("conditions", "then", "else"),
}
LIST_OPTIONS = {"to", "fields"}
JSON_OPTIONS = {"conditions", "then", "else"}


def new_key() -> str:
    return uuid.uuid4().hex[:8]


def clean_key(value: Any) -> str:
    text = str(value or "")[:20]
    return text if text.isalnum() else ""


# --------------------------------------------------------------------------- form -> definition


def rule_from_form(post) -> dict[str, Any]:
    """The definition the posted builder fields describe (for `rules.save_rule`)."""
    return {
        "name": post.get("name", ""),
        "description": post.get("description", ""),
        "object_type": post.get("object_type", ""),
        "enabled": post.get("enabled") == "1",
        "trigger": _trigger_from_form(post),
        "conditions": _conditions_from_form(post),
        "actions": [step_from_form(post, key) for key in _keys(post.getlist("step"))],
    }


def _keys(values: list[str]) -> list[str]:
    return list(dict.fromkeys(k for k in (clean_key(v) for v in values[:50]) if k))


def _trigger_from_form(post) -> dict[str, Any]:
    kind = post.get("trigger_type", "")
    trigger: dict[str, Any] = {"type": kind}
    if kind == TriggerType.FIELD_CHANGED:
        trigger["field"] = post.get("trigger_field", "")
        for side in ("from", "to"):
            if post.get(f"trigger_{side}", "") != "":
                trigger[side] = post.get(f"trigger_{side}")
    elif kind == TriggerType.UPDATED:
        fields = [f for f in post.getlist("trigger_fields") if f]
        if fields:
            trigger["fields"] = fields
    elif kind == TriggerType.STAGE_CHANGED:
        for option in ("from_stage_id", "to_stage_id", "outcome"):
            if post.get(f"trigger_{option}", ""):
                trigger[option] = post.get(f"trigger_{option}")
    elif kind == TriggerType.RELATIVE_TIME:
        trigger["field"] = post.get("trigger_date_field", "")
        trigger["yearly"] = post.get("trigger_yearly") == "1"
        days = post.get("trigger_days", "0").strip()
        if post.get("trigger_direction") == "before" and days.isdigit() and int(days):
            days = f"-{days}"
        trigger["days"] = days or "0"
        trigger["window_days"] = post.get("trigger_window_days", "3").strip() or "3"
        trigger["at_hour"] = post.get("trigger_at_hour", "9").strip() or "9"
    elif kind == TriggerType.SCHEDULE:
        trigger["cron"] = " ".join(post.get(f"cron_{part}", "").strip() or "*" for part in CRON_FIELDS)
    return trigger


def _conditions_from_form(post) -> dict[str, Any]:
    """The filter builder's rows: group "" at the top level, the others in their groups."""
    rows = filter_builder.conditions_from_params(post)
    groups = _keys(post.getlist("group"))
    top: list[Any] = [condition for group, condition in rows if group not in groups]
    for key in groups:
        items = [condition for group, condition in rows if group == key]
        if items:
            mode = post.get(f"group_mode_{key}")
            top.append({mode if mode in MODES else "all": items})
    if not top:
        return {}
    mode = post.get("cond_mode")
    return {mode if mode in MODES else "all": top}


def step_from_form(post, key: str) -> dict[str, Any]:
    kind = post.get(f"s{key}_type", "")
    step: dict[str, Any] = {"type": kind}
    for option in STEP_OPTIONS.get(kind, ()):
        name = f"s{key}_{option}"
        if option in LIST_OPTIONS:
            step[option] = [v for v in post.getlist(name) if v]
        elif option in JSON_OPTIONS:
            text = post.get(name, "").strip()
            try:
                step[option] = json.loads(text) if text else ([] if option != "conditions" else {})
            except ValueError:
                step[option] = text  # refused by clean_rule, naming the step
        elif option == "owner":
            value = post.get(name, "")
            if value == "assignment_rules":
                step["strategy"] = value
            else:
                step["user_id"] = value.removeprefix("user:")
        else:
            step[option] = post.get(name, "")
    return step


# --------------------------------------------------------------------------- definition -> form


def form_state(definition: dict[str, Any]) -> dict[str, Any]:
    """What the builder shows for a definition (saved, or posted and refused)."""
    object_type = definition.get("object_type")
    if object_type not in OBJECT_TYPES:
        object_type = OBJECT_TYPES[0]
    catalogue = Catalogue(object_type)
    conditions = definition.get("conditions") or {}
    mode, items = (
        next(iter(conditions.items())) if isinstance(conditions, dict) and conditions else ("all", [])
    )
    top_rows, groups = [], []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and len(item) == 1 and next(iter(item)) in MODES:
            key = new_key()
            group_mode, group_items = next(iter(item.items()))
            groups.append({"key": key, "mode": group_mode, "rows": [
                filter_builder.row_for(catalogue, c, group=key) for c in group_items if isinstance(c, dict)]})  # fmt: skip
        elif isinstance(item, dict):
            top_rows.append(filter_builder.row_for(catalogue, item, group=""))
    return {
        "name": definition.get("name", ""),
        "description": definition.get("description", ""),
        "object_type": object_type,
        "enabled": bool(definition.get("enabled")),
        "trigger": _trigger_state(definition.get("trigger") or {}),
        "cond_mode": mode if mode in MODES else "all",
        "rows": top_rows,
        "groups": groups,
        "steps": [
            step_state(step, catalogue) for step in definition.get("actions") or [] if isinstance(step, dict)
        ],
    }


def _trigger_state(trigger: dict[str, Any]) -> dict[str, Any]:
    state = {"type": trigger.get("type", ""), "field": "", "from": "", "to": "", "fields": [],
             "from_stage_id": "", "to_stage_id": "", "outcome": "", "date_field": "", "days": "0",
             "direction": "after", "window_days": "3", "at_hour": "9", "yearly": False,
             "cron": dict(zip(CRON_FIELDS, ["0", "9", "*", "*", "*"], strict=True))}  # fmt: skip
    kind = state["type"]
    if kind == TriggerType.RELATIVE_TIME:
        days = str(trigger.get("days", 0))
        state.update(date_field=trigger.get("field", ""), yearly=bool(trigger.get("yearly")),
                     direction="before" if days.startswith("-") else "after", days=days.lstrip("-"),
                     window_days=str(trigger.get("window_days", 3)), at_hour=str(trigger.get("at_hour", 9)))  # fmt: skip
    elif kind == TriggerType.SCHEDULE:
        parts = str(trigger.get("cron") or "").split()
        if len(parts) == len(CRON_FIELDS):
            state["cron"] = dict(zip(CRON_FIELDS, parts, strict=True))
    else:
        for option in ("field", "from", "to", "from_stage_id", "to_stage_id", "outcome"):
            if trigger.get(option) not in (None, ""):
                state[option] = str(trigger[option])
        state["fields"] = [str(f) for f in trigger.get("fields") or []]
    return state


def step_state(step: dict[str, Any], catalogue: Catalogue, *, key: str = "") -> dict[str, Any]:
    kind = str(step.get("type") or "")
    values: dict[str, Any] = {}
    for option in STEP_OPTIONS.get(kind, ()):
        if option in JSON_OPTIONS:
            value = step.get(option)
            values[option] = (
                value
                if isinstance(value, str)
                else json.dumps(value or ([] if option != "conditions" else {}), ensure_ascii=False)
            )
        elif option in LIST_OPTIONS:
            value = step.get(option) or []
            values[option] = [str(v) for v in (value if isinstance(value, list) else [value])]
        elif option == "owner":
            values[option] = "assignment_rules" if step.get("strategy") else f"user:{step.get('user_id', '')}"
        else:
            values[option] = "" if step.get(option) is None else str(step.get(option))
    if kind == "create_task":
        values["assignee"] = values["assignee"] or "owner"
        values["due_in_hours"] = values["due_in_hours"] or "24"
    if kind == "notify" and not values["to"]:
        values["to"] = ["owner"]
    state = {"key": key or new_key(), "type": kind, "values": values}
    if kind == "update_field":  # the value's widget fits the chosen field (as in the filter builder)
        spec = catalogue.get(values["field"])
        state["value_row"] = filter_builder.row(
            spec if settable(catalogue, spec) else None, "eq", values["value"]
        )
    return state


# --------------------------------------------------------------------------- what the pages offer


class Options:
    """The choices the builder offers for one object type (each read once, when a page needs it)."""

    def __init__(self, object_type: str) -> None:
        self.object_type = object_type
        self.catalogue = Catalogue(object_type)
        self._cache: dict[str, Any] = {}

    def _once(self, name: str, build) -> Any:
        if name not in self._cache:
            self._cache[name] = build()
        return self._cache[name]

    @property
    def triggers(self) -> list[tuple[str, str]]:
        return [(t.value, t.label) for t in TRIGGERS_BY_OBJECT[self.object_type]]

    @property
    def filter_fields(self) -> list[dict]:
        return self._once("filter_fields", lambda: filter_builder.field_choices_for_filters(self.catalogue))

    @property
    def date_fields(self) -> list:
        return [s for s in self.catalogue.fields() if s.type in DATE_TYPES]

    @property
    def settable_fields(self) -> list:
        return self._once(
            "settable", lambda: [s for s in self.catalogue.fields() if settable(self.catalogue, s)]
        )

    @property
    def readable_fields(self) -> list:
        return [s for s in self.catalogue.fields() if not s.sensitive]

    @property
    def step_types(self) -> list[tuple[str, str]]:
        return [(key, str(step.label)) for key, step in STEP_TYPES.items()]

    @property
    def variables(self) -> list[tuple[str, str]]:
        return self._once("variables", lambda: templating.variables(self.object_type))

    @property
    def users(self) -> list[tuple[str, str]]:
        return self._once("users", lambda: [(f"user:{u.pk}", str(u)) for u in
                                            User.objects.filter(is_active=True).order_by("username")[:500]])  # fmt: skip

    @property
    def people(self) -> list[tuple[str, str]]:
        """Who a task is for: the owner, the owner's manager or a user."""
        labels = {"owner": _("The record's owner"), "owner_manager": _("The owner's manager")}
        return [(r, labels[r]) for r in RECIPIENTS] + self.users

    @property
    def recipients(self) -> list[tuple[str, str]]:
        """Who is notified: as `people`, and roles."""
        roles = [(f"role:{code}", _("Role: %(name)s") % {"name": name})
                 for code, name in Role.objects.order_by("code").values_list("code", "name")]  # fmt: skip
        return self.people + roles

    @property
    def owners(self) -> list[tuple[str, str]]:
        return [("assignment_rules", _("By the lead assignment rules"))] + self.users

    @property
    def follow_up_kinds(self) -> list[tuple[str, str]]:
        from guanxi.customization.registry import _localized
        from guanxi.engagement.fields import follow_up_types

        return [(key, _localized(zh, en)) for key, zh, en in follow_up_types()]

    @property
    def cadences(self) -> list[tuple[str, str]]:
        from guanxi.engagement.models import Cadence

        return [(str(pk), name) for pk, name in Cadence.objects.order_by("name").values_list("pk", "name")]

    @property
    def endpoints(self) -> list[tuple[str, str]]:
        from guanxi.webhooks.models import WebhookEndpoint

        return [(str(e.pk), f"{e.name} ({e.url})") for e in WebhookEndpoint.objects.order_by("name")]

    @property
    def flows(self) -> list[tuple[str, str]]:
        from guanxi.approvals.models import ApprovalFlow

        return [(str(pk), name) for pk, name in
                ApprovalFlow.objects.filter(object_type=self.object_type).values_list("pk", "name")]  # fmt: skip

    @property
    def stages(self) -> list[tuple[str, str]]:
        from guanxi.sales.models import Stage

        return [(str(s.pk), str(s)) for s in Stage.objects.order_by("pk")]

    @property
    def outcomes(self) -> list[tuple[str, str]]:
        from guanxi.sales.models import StageOutcome

        return list(StageOutcome.choices)
