"""What a rule can do: the step types (a rule's "actions"; called steps in the code so that they are
not confused with the `actions` layer they call).

Each step type validates its configuration when the rule is saved (`clean`: messages name the
step and the part), performs itself by calling the normal actions of the apps with the rule's
actor (so data scopes, audit entries and further events apply), and describes what it would do
for a dry run. Control steps (`wait`, `branch`) are run by the engine (`actions/engine.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.automation import templating
from guanxi.automation.fields import Catalogue
from guanxi.core.converters import as_id
from guanxi.core.models import Role, User
from guanxi.customization.models import CustomObject
from guanxi.customization.registry import registered_objects
from guanxi.engagement.actions.follow_ups import TASK_EDITABLE, update_task
from guanxi.engagement.fields import TASK


@dataclass
class Firing:
    """What a step sees: the rule, the record, the acting user and the template variables."""

    rule: Any
    run_id: int | None
    obj: Any
    catalogue: Catalogue
    actor: Any
    now: dt.datetime
    index: str = "1"
    variables: dict[str, Any] = field(default_factory=dict)

    @property
    def customer(self):
        if self.catalogue.object_type == CustomObject.CUSTOMER:
            return self.obj
        return getattr(self.obj, "customer", None)

    def text(self, template: str) -> str:
        return templating.render(template, self.variables)


@dataclass(frozen=True)
class StepType:
    key: str
    label: Any
    clean: Callable[[dict, str], dict]
    perform: Callable[[Firing, dict], dict] | None = None
    describe: Callable[[Firing, dict], str] | None = None
    needs_customer: bool = True
    changes_record: bool = False  # the engine reloads the record after it


STEP_TYPES: dict[str, StepType] = {}


def register(step: StepType) -> StepType:
    STEP_TYPES[step.key] = step
    return step


# --------------------------------------------------------------------------- helpers


def _positive_int(config: dict, key: str, *, default: int | None, maximum: int, label: str) -> int:
    value = config.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or not str(value).strip().lstrip("-").isdigit()
    ):
        raise ValidationError(_("%(part)s: enter a whole number.") % {"part": label})
    number = int(value)
    if not 0 <= number <= maximum:
        raise ValidationError(_("%(part)s: must be between 0 and %(max)d.") % {"part": label, "max": maximum})
    return number


RECIPIENTS = ("owner", "owner_manager")


def _clean_person(value: Any, label: str, *, allow_roles: bool) -> str:
    """ "owner", "owner_manager", "user:<id>" or (notifications) "role:<code>"."""
    text = str(value or "").strip()
    if text in RECIPIENTS:
        return text
    kind, _sep, ref = text.partition(":")
    if kind == "user" and as_id(ref) and User.objects.filter(pk=as_id(ref), is_active=True).exists():
        return text
    if allow_roles and kind == "role" and Role.objects.filter(code=ref).exists():
        return text
    raise ValidationError(
        _("%(part)s: choose the owner, the owner's manager or an existing user.") % {"part": label}
    )


def _people(firing: Firing, spec: str) -> list[User]:
    customer = firing.customer
    owner = getattr(firing.obj, "owner", None) or (customer.owner if customer is not None else None)
    if spec == "owner":
        return [owner] if owner is not None else []
    if spec == "owner_manager":
        return [owner.manager] if owner is not None and owner.manager_id else []
    kind, _sep, ref = spec.partition(":")
    if kind == "user":
        return list(User.objects.filter(pk=int(ref), is_active=True))
    if kind == "role":
        return list(User.objects.filter(role__code=ref, is_active=True))
    return []


def _template(config: dict, key: str, object_type: str, label: str, *, required: bool) -> str:
    text = config.get(key) or ""
    if required and not str(text).strip():
        raise ValidationError(_("%(part)s: this field is required.") % {"part": label})
    return templating.check(text, object_type, label=label)


# --------------------------------------------------------------------------- create task


def _clean_task(config: dict, object_type: str) -> dict:
    label = _("Create task")
    return {
        "title": _template(config, "title", object_type, f"{label} · {_('title')}", required=True),
        "description": _template(config, "description", object_type, f"{label} · {_('description')}", required=False),
        "due_in_hours": _positive_int(config, "due_in_hours", default=24, maximum=24 * 365, label=f"{label} · {_('due in hours')}"),
        "assignee": _clean_person(config.get("assignee", "owner"), f"{label} · {_('assignee')}", allow_roles=False),
    }  # fmt: skip


def _perform_task(firing: Firing, config: dict) -> dict:
    from guanxi.engagement.actions.follow_ups import create_task

    people = _people(firing, config["assignee"])
    if not people:
        return {"skipped": "no assignee"}
    task = create_task(
        {"title": firing.text(config["title"]), "description": firing.text(config["description"]),
         "due_at": firing.now + dt.timedelta(hours=config["due_in_hours"]), "owner_id": people[0].pk,
         "customer_id": firing.customer.pk if firing.customer is not None else None},
        actor=firing.actor,
    )  # fmt: skip
    return {"task_id": task.pk}


def _describe_task(firing: Firing, config: dict) -> str:
    people = _people(firing, config["assignee"])
    return _("Create the task “%(title)s” for %(who)s, due in %(hours)d hours.") % {
        "title": firing.text(config["title"]), "who": _names(people), "hours": config["due_in_hours"]}  # fmt: skip


def _names(people: list[User]) -> str:
    return "、".join(p.display_name or p.username for p in people) or _("nobody")


register(StepType("create_task", gettext_lazy("Create a task"), _clean_task, _perform_task, _describe_task))


# --------------------------------------------------------------------------- follow-up


def _clean_follow_up(config: dict, object_type: str) -> dict:
    from guanxi.engagement.fields import follow_up_types

    label = _("Log a follow-up")
    kind = str(config.get("kind") or "")
    if kind not in {key for key, _zh, _en in follow_up_types()}:
        raise ValidationError(_("%(part)s: choose a follow-up type.") % {"part": f"{label} · {_('type')}"})
    return {
        "kind": kind,
        "content": _template(config, "content", object_type, f"{label} · {_('content')}", required=True),
    }


def _perform_follow_up(firing: Firing, config: dict) -> dict:
    from guanxi.engagement.actions.follow_ups import log_follow_up

    follow_up = log_follow_up(
        firing.customer.pk, {"kind": config["kind"], "content": firing.text(config["content"])},
        actor=firing.actor, now=firing.now,
    )  # fmt: skip
    return {"follow_up_id": follow_up.pk}


register(StepType("create_follow_up", gettext_lazy("Log a follow-up"), _clean_follow_up, _perform_follow_up,
                  lambda f, c: _("Log a follow-up: “%(text)s”.") % {"text": f.text(c["content"])}))  # fmt: skip


# --------------------------------------------------------------------------- update a field

# Object types whose fields a rule may set: any field the generic rules below allow (None), or only
# the listed ones (a task: what `update_task` edits, its owner by `assign_owner`; its status changes
# by completing or cancelling).
WRITABLE: dict[str, frozenset[str] | None] = {
    CustomObject.CUSTOMER: None,
    CustomObject.DEAL: None,
    TASK: frozenset(TASK_EDITABLE) - {"owner_id"},
}


def settable(catalogue: Catalogue, spec) -> bool:
    """Whether an "update a field" step may set `spec` (the rule builder offers these fields)."""
    only = WRITABLE.get(catalogue.object_type)
    return (
        catalogue.object_type in WRITABLE
        and spec is not None
        and (only is None or spec.ref in only)
        and spec.ref not in catalogue._extras
        and not spec.multi_valued
        and not spec.sensitive
        and (spec.getter is None or spec.is_custom)
    )


def _clean_update(config: dict, object_type: str) -> dict:
    from guanxi.customization.registry.cleaning import clean_value

    label = _("Update a field")
    ref = str(config.get("field") or "")
    catalogue = Catalogue(object_type)
    spec = catalogue.get(ref)
    if not settable(catalogue, spec):
        raise ValidationError(
            _("%(part)s: %(field)s cannot be set by a rule.") % {"part": label, "field": ref[:60] or "—"}
        )
    try:
        value = clean_value(spec, config.get("value"))
    except ValidationError as exc:
        raise ValidationError(
            _("%(part)s: %(error)s") % {"part": f"{label} · {spec.label}", "error": " ".join(exc.messages)}
        ) from None
    return {"field": ref, "value": value}


def _perform_update(firing: Firing, config: dict) -> dict:
    spec = firing.catalogue.get(config["field"])
    data = {"custom_fields": {spec.key: config["value"]}} if spec.is_custom else {spec.key: config["value"]}
    if firing.catalogue.object_type == CustomObject.CUSTOMER:
        from guanxi.customers.actions import update_customer

        update_customer(firing.obj.pk, data, actor=firing.actor)
    elif firing.catalogue.object_type == TASK:
        update_task(firing.obj.pk, data, actor=firing.actor)
    else:
        from guanxi.sales.actions import update_deal

        update_deal(firing.obj.pk, data, actor=firing.actor)
    return {"field": config["field"], "value": config["value"]}


def _describe_update(firing: Firing, config: dict) -> str:
    spec = firing.catalogue.get(config["field"])
    return _("Set %(field)s to %(value)s.") % {"field": spec.label, "value": spec.display(config["value"])}


register(StepType("update_field", gettext_lazy("Update a field"), _clean_update, _perform_update, _describe_update,
                  needs_customer=False, changes_record=True))  # fmt: skip


# --------------------------------------------------------------------------- tags


def _clean_tag(config: dict, object_type: str) -> dict:
    name = str(config.get("tag") or "").strip()
    if not name or len(name) > 50:
        raise ValidationError(_("%(part)s: enter a tag.") % {"part": _("Tag")})
    return {"tag": name}


def _perform_tag(remove: bool):
    def perform(firing: Firing, config: dict) -> dict:
        from guanxi.customers.actions import bulk_tag

        changed = bulk_tag([firing.customer.pk], [config["tag"]], actor=firing.actor, remove=remove)
        return {"changed": changed}

    return perform


register(StepType("add_tag", gettext_lazy("Add a tag"), _clean_tag, _perform_tag(False),
                  lambda f, c: _("Add the tag “%(tag)s”.") % c))  # fmt: skip
register(StepType("remove_tag", gettext_lazy("Remove a tag"), _clean_tag, _perform_tag(True),
                  lambda f, c: _("Remove the tag “%(tag)s”.") % c))  # fmt: skip


# --------------------------------------------------------------------------- owner and pool


def _clean_assign(config: dict, object_type: str) -> dict:
    label = _("Assign the owner")
    if config.get("strategy") == "assignment_rules":
        if object_type == TASK:
            raise ValidationError(
                _(
                    "%(part)s: the lead assignment rules assign customers; choose the user to give the task to."
                )
                % {"part": label}
            )
        return {"strategy": "assignment_rules"}
    user_id = as_id(config.get("user_id"))
    if user_id is None or not User.objects.filter(pk=user_id, is_active=True).exists():
        raise ValidationError(_("%(part)s: choose an active user or the assignment rules.") % {"part": label})
    return {"user_id": user_id}


def _perform_assign(firing: Firing, config: dict) -> dict:
    """A task goes to the user; on other records the customer is assigned or transferred (skipped
    when the record has none, as every customer step)."""
    if firing.catalogue.object_type == TASK:
        update_task(firing.obj.pk, {"owner_id": config["user_id"]}, actor=firing.actor)
        return {"owner": config["user_id"]}
    if firing.customer is None:
        return {"skipped": "no customer"}
    if config.get("strategy") == "assignment_rules":
        from guanxi.engagement.actions.assignment import assign_lead

        assignment = assign_lead(firing.customer.pk, actor=firing.actor, now=firing.now)
        return {"assignment_id": assignment.pk if assignment else None}
    from guanxi.engagement.actions.handover import transfer_customers

    moved = transfer_customers([firing.customer.pk], config["user_id"], actor=firing.actor, now=firing.now)
    return {"moved": moved}


def _describe_assign(firing: Firing, config: dict) -> str:
    if config.get("strategy") == "assignment_rules":
        return _("Assign an owner by the lead assignment rules.")
    user = User.objects.filter(pk=config["user_id"]).first()
    if firing.catalogue.object_type == TASK:
        return _("Give the task to %(who)s.") % {"who": _names([user] if user else [])}
    return _("Transfer the customer to %(who)s.") % {"who": _names([user] if user else [])}


register(StepType("assign_owner", gettext_lazy("Assign or transfer the owner"), _clean_assign, _perform_assign,
                  _describe_assign, needs_customer=False, changes_record=True))  # fmt: skip


def _perform_pool(firing: Firing, config: dict) -> dict:
    from guanxi.customers import ownership

    moves = ownership.change_owner([firing.customer.pk], None, reason=ownership.OwnershipReason.RELEASED,
                                   actor=firing.actor, now=firing.now,
                                   audit_note={"rule_id": firing.rule.pk})  # fmt: skip
    return {"moved": len(moves)}


register(StepType("move_to_pool", gettext_lazy("Move to the public pool"), lambda c, o: {}, _perform_pool,
                  lambda f, c: _("Return the customer to the public pool."), changes_record=True))  # fmt: skip


# --------------------------------------------------------------------------- cadences


def _clean_cadence(config: dict, object_type: str, *, required: bool) -> dict:
    from guanxi.engagement.models import Cadence

    value = config.get("cadence_id")
    if value in (None, "") and not required:
        return {"cadence_id": None}
    cadence_id = as_id(value)
    if cadence_id is None or not Cadence.objects.filter(pk=cadence_id).exists():
        raise ValidationError(_("%(part)s: choose a cadence.") % {"part": _("Cadence")})
    return {"cadence_id": cadence_id}


def _perform_start_cadence(firing: Firing, config: dict) -> dict:
    from guanxi.engagement.actions.cadences import start_cadence

    enrollment = start_cadence(firing.customer.pk, config["cadence_id"], actor=firing.actor, now=firing.now)
    return {"enrollment_id": enrollment.pk if enrollment else None}


def _perform_stop_cadence(firing: Firing, config: dict) -> dict:
    from guanxi.engagement.actions.cadences import end_enrollment
    from guanxi.engagement.models import CadenceEnrollment, EnrollmentStatus

    running = CadenceEnrollment.objects.select_for_update().filter(
        customer=firing.customer, status__in=[EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED]
    )
    if config.get("cadence_id"):
        running = running.filter(cadence_id=config["cadence_id"])
    stopped = 0
    for enrollment in running:
        end_enrollment(enrollment, EnrollmentStatus.STOPPED, "automation", actor=firing.actor, now=firing.now)
        stopped += 1
    return {"stopped": stopped}


register(StepType("start_cadence", gettext_lazy("Start a cadence"), lambda c, o: _clean_cadence(c, o, required=True),
                  _perform_start_cadence, lambda f, c: _("Start a cadence.")))  # fmt: skip
register(StepType("stop_cadence", gettext_lazy("Stop cadences"), lambda c, o: _clean_cadence(c, o, required=False),
                  _perform_stop_cadence, lambda f, c: _("Stop the customer's running cadences.")))  # fmt: skip


# --------------------------------------------------------------------------- notify


def _clean_notify(config: dict, object_type: str) -> dict:
    label = _("Notify")
    to = config.get("to") or ["owner"]
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to:
        raise ValidationError(
            _("%(part)s: choose who is notified.") % {"part": f"{label} · {_('recipients')}"}
        )
    return {
        "to": [_clean_person(t, f"{label} · {_('recipients')}", allow_roles=True) for t in to[:20]],
        "title": _template(config, "title", object_type, f"{label} · {_('title')}", required=True),
        "body": _template(config, "body", object_type, f"{label} · {_('message')}", required=False),
    }


def _perform_notify(firing: Firing, config: dict) -> dict:
    from guanxi.messaging.actions import notify

    title, body = firing.text(config["title"]), firing.text(config["body"])
    sent = []
    for spec in config["to"]:
        for person in _people(firing, spec):
            key = f"automation:{firing.rule.pk}:{firing.run_id}:{firing.index}:{person.pk}"
            if notify(person, kind="automation", title=title, body=body, url=_url(firing), dedupe_key=key):
                sent.append(person.pk)
    return {"notified": sent}


def _url(firing: Firing) -> str:
    customer = firing.customer
    return f"/customers/{customer.pk}/" if customer is not None else ""


def _describe_notify(firing: Firing, config: dict) -> str:
    people = [p for spec in config["to"] for p in _people(firing, spec)]
    return _("Notify %(who)s: “%(title)s”.") % {"who": _names(people), "title": firing.text(config["title"])}


register(StepType("notify", gettext_lazy("Send a notification"), _clean_notify, _perform_notify, _describe_notify,
                  needs_customer=False))  # fmt: skip


# --------------------------------------------------------------------------- outgoing webhook


def _clean_webhook(config: dict, object_type: str) -> dict:
    from guanxi.webhooks.models import WebhookEndpoint

    label = _("Call a webhook")
    url = str(config.get("url") or "").strip()
    endpoint_id = as_id(config.get("endpoint_id"))
    if url and config.get("endpoint_id") in (None, ""):  # a new endpoint (rules.save_rule creates it)
        from guanxi.webhooks.actions import clean_endpoint_input

        try:
            url = clean_endpoint_input({"url": url}, partial=True)["url"]
        except ValidationError as exc:
            raise ValidationError(
                _("%(part)s: %(error)s") % {"part": f"{label} · URL", "error": " ".join(exc.messages)}
            ) from None
    elif endpoint_id is None or not WebhookEndpoint.objects.filter(pk=endpoint_id).exists():
        raise ValidationError(_("%(part)s: choose an outgoing webhook endpoint.") % {"part": label})
    catalogue = Catalogue(object_type)
    fields = config.get("fields") or []
    if not isinstance(fields, list) or len(fields) > 50:
        raise ValidationError(_("%(part)s: the fields must be a list.") % {"part": label})
    for ref in fields:
        spec = catalogue.get(str(ref))
        if spec is None or spec.sensitive:
            raise ValidationError(
                _("%(part)s: unknown field %(field)s.") % {"part": label, "field": str(ref)[:60]}
            )
    target = {"endpoint_id": endpoint_id} if endpoint_id is not None or not url else {"url": url}
    return {**target, "fields": [str(ref) for ref in fields]}


def _perform_webhook(firing: Firing, config: dict) -> dict:
    from guanxi.webhooks.actions import enqueue_delivery

    values = {ref: firing.catalogue.get(ref).present(firing.catalogue.value(firing.catalogue.get(ref), firing.obj),
                                                     user=None, obj=firing.obj)
              for ref in config["fields"]}  # fmt: skip
    data = {"rule_id": firing.rule.pk, "rule": firing.rule.name, "object_type": firing.catalogue.object_type,
            "object_id": firing.obj.pk, "name": str(firing.obj), "values": values}  # fmt: skip
    delivery = enqueue_delivery(config["endpoint_id"], "automation.rule_fired", data,
                                idempotency_key=f"rule:{firing.rule.pk}:{firing.run_id}:{firing.index}",
                                actor=f"rule:{firing.rule.pk}")  # fmt: skip
    return {"delivery_id": delivery.pk}


register(StepType("webhook", gettext_lazy("Call an outgoing webhook"), _clean_webhook, _perform_webhook,
                  lambda f, c: _("Send the record to the webhook endpoint #%(id)s.") % {"id": c["endpoint_id"]},
                  needs_customer=False))  # fmt: skip


# --------------------------------------------------------------------------- approval


def _clean_approval(config: dict, object_type: str) -> dict:
    from guanxi.approvals.models import ApprovalFlow

    if object_type not in registered_objects():  # approvals know the objects with custom fields
        raise ValidationError(
            _("%(part)s: records of this kind cannot be sent for approval.")
            % {"part": _("Request an approval")}
        )
    value = config.get("flow_id")
    if value in (None, ""):
        return {"flow_id": None}
    flow_id = as_id(value)
    if flow_id is None or not ApprovalFlow.objects.filter(pk=flow_id, object_type=object_type).exists():
        raise ValidationError(
            _("%(part)s: choose an approval flow for this object.") % {"part": _("Request an approval")}
        )
    return {"flow_id": flow_id}


def _perform_approval(firing: Firing, config: dict) -> dict:
    from guanxi.approvals import actions as approvals
    from guanxi.approvals.models import ApprovalFlow

    if approvals.pending_request_for(firing.obj) is not None:
        return {"skipped": "an approval is already pending"}
    flow = ApprovalFlow.objects.filter(pk=config["flow_id"]).first() if config["flow_id"] else None
    request = approvals.submit(firing.obj, actor=None, flow=flow, reason=firing.rule.name)
    return {"approval_id": request.pk}


register(StepType("request_approval", gettext_lazy("Request an approval"), _clean_approval, _perform_approval,
                  lambda f, c: _("Send the record through its approval flow."), needs_customer=False))  # fmt: skip


# --------------------------------------------------------------------------- control steps (run by the engine)

MAX_WAIT_HOURS = 24 * 366


def _clean_wait(config: dict, object_type: str) -> dict:
    hours = _positive_int(config, "hours", default=None, maximum=MAX_WAIT_HOURS, label=_("Wait · hours"))
    if hours < 1:
        raise ValidationError(
            _("%(part)s: must be between 1 and %(max)d.") % {"part": _("Wait · hours"), "max": MAX_WAIT_HOURS}
        )
    return {"hours": hours}


register(StepType("wait", gettext_lazy("Wait, then continue"), _clean_wait, needs_customer=False,
                  describe=lambda f, c: _("Wait %(hours)d hours, then continue.") % c))  # fmt: skip
# "branch" is validated by rules.clean_steps (it holds steps) and run by the engine.
register(StepType("branch", gettext_lazy("Branch on a condition"), lambda c, o: c, needs_customer=False))
