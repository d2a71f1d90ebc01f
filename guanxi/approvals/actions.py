"""Approvals actions: flows, submitting, deciding, timeouts and delegations. The only code that writes
the approvals models. Each state change: permission check, writes, audit entry and a declared event
(`approvals/events.py`) in one transaction; notifications are sent by messaging's subscribers.

Rules: a step is one or more approver slots (a slot is one approver spec: a user, every member of a
role, the submitter's manager N levels up, the department head). "all" needs every slot approved,
"any" the first; a reject ends the request rejected; the last step approved ends it approved. A user
who is neither an approver of the current step nor the active delegate of one may not decide (403).
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.approvals.events import ApprovalEvent
from guanxi.approvals.models import (
    ApprovalDecision,
    ApprovalFlow,
    ApprovalRequest,
    ApprovalStep,
    ApproverKind,
    Decision,
    Delegation,
    FlowTrigger,
    RequestStatus,
    StepMode,
    TimeoutAction,
)
from guanxi.core import audit, locks, settings_store
from guanxi.core.actions import ensure_default_roles
from guanxi.core.audit import json_value
from guanxi.core.converters import as_id
from guanxi.core.events import emit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, Department, Role, User
from guanxi.core.permissions import Perm
from guanxi.customization import registry as customfields

MAX_MANAGER_LEVELS = 5
MAX_TIMEOUT_HOURS = 24 * 90
COMMENT_MAX = 2000
LINK_SALT = "guanxi.approvals.link"
EXAMPLE_KEY = "example.deal_discount"
THRESHOLD_SETTING = "sales.discount_approval_percent"

# What an approved request does with its `pending_change`, per object type: fn(obj, change, actor).
_appliers: dict[str, Any] = {}


def register_applier(object_type: str, fn) -> None:
    """How an approved request's held change is made for records of `object_type` (e.g. a deal's
    stage move); called in the approving transaction, inside a savepoint."""
    _appliers[str(object_type)] = fn


# --------------------------------------------------------------------------- records


def object_type_of(obj: models.Model) -> str | None:
    """The field registry's object type of a model instance (None: not a registered object)."""
    for object_type in customfields.registered_objects():
        if isinstance(obj, customfields.object_spec(object_type).model):
            return object_type
    return None


def load_object(object_type: str, object_id: int) -> models.Model | None:
    if object_type not in customfields.registered_objects():
        return None
    return customfields.object_spec(object_type).model.objects.filter(pk=object_id).first()


def visible(object_type: str, object_id: int, user) -> bool:
    if user is None:
        return True
    spec = customfields.object_spec(object_type)
    if spec.visible_ids is None:
        return bool(getattr(user, "is_superuser", False))
    return object_id in spec.visible_ids(user, [object_id])


def _matches(flow: ApprovalFlow, obj: models.Model) -> bool:
    registry = customfields.Registry(flow.object_type)
    q = registry.filter_q(flow.conditions or [], user=None)
    return type(obj).objects.filter(pk=obj.pk).filter(q).exists()


def snapshot_of(flow: ApprovalFlow, obj: models.Model) -> dict[str, Any]:
    """The values of the fields the flow's condition tests (what the approvers approve)."""
    registry = customfields.Registry(flow.object_type)
    values = {}
    for condition in flow.conditions or []:
        spec = registry.get(str(condition.get("field") or ""))
        if spec is not None:
            value = spec.value_of(obj)
            if isinstance(value, decimal.Decimal):
                value = format(value.normalize(), "f")
            values[spec.ref] = json_value(value)
    return values


# --------------------------------------------------------------------------- flows


def _storable(value: Any) -> bool:
    """No control characters or lone surrogates anywhere in a value (PostgreSQL refuses NUL, JSON
    refuses lone surrogates): the shared text-cleaning rule, applied through lists and dicts."""
    if isinstance(value, str):
        return not normalize.has_control_chars(value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_storable(v) for v in value)
    return True


def _refuse_odd_text(data: dict[str, Any], keys: tuple[str, ...]) -> None:
    errors = {key: [_("Remove the control characters.")] for key in keys if not _storable(data.get(key))}
    if errors:
        raise ValidationError(errors)


def _clean_approver(spec: Any, where: str, errors: dict[str, list[str]]) -> dict | None:
    if not isinstance(spec, dict):
        errors.setdefault(where, []).append(_("An approver must be an object with a kind."))
        return None
    kind = str(spec.get("kind") or "")
    if kind == ApproverKind.USER:
        user_id = as_id(spec.get("user_id"))
        if user_id is None or not User.objects.filter(pk=user_id, is_active=True).exists():
            errors.setdefault(where, []).append(
                _("Unknown user %(user)s.") % {"user": str(spec.get("user_id"))[:30]}
            )
            return None
        return {"kind": kind, "user_id": user_id}
    if kind == ApproverKind.ROLE:
        code = str(spec.get("role") or "")
        if not Role.objects.filter(code=code).exists():
            errors.setdefault(where, []).append(_("Unknown role %(role)s.") % {"role": code[:50]})
            return None
        return {"kind": kind, "role": code}
    if kind == ApproverKind.MANAGER:
        try:
            levels = int(spec.get("levels") or 1)
        except (TypeError, ValueError):
            levels = 0
        if not 1 <= levels <= MAX_MANAGER_LEVELS:
            errors.setdefault(where, []).append(
                _("Manager levels must be a whole number from 1 to %(max)s.") % {"max": MAX_MANAGER_LEVELS}
            )
            return None
        return {"kind": kind, "levels": levels}
    if kind == ApproverKind.DEPARTMENT_HEAD:
        return {"kind": kind}
    errors.setdefault(where, []).append(
        _("Unknown approver kind %(kind)s (user, role, manager or department_head).") % {"kind": kind[:30]}
    )
    return None


def clean_flow(data: dict[str, Any], *, flow: ApprovalFlow | None = None) -> dict[str, Any]:
    """Validate a flow's input; raises ValidationError with a message per field (nothing saved)."""
    _refuse_odd_text(data, ("name", "description", "object_type", "trigger", "conditions", "steps"))
    errors: dict[str, list[str]] = {}
    unknown = sorted(
        set(data) - {"name", "description", "object_type", "trigger", "conditions", "enabled", "position",
                     "steps"}
    )  # fmt: skip
    for key in unknown:
        errors.setdefault(key, []).append(_("Unknown field."))
    cleaned: dict[str, Any] = {}
    name = str(data.get("name") if "name" in data else (flow.name if flow else "")).strip()
    if not name or len(name) > 100:
        errors.setdefault("name", []).append(_("Give the flow a name (at most 100 characters)."))
    cleaned["name"] = name
    cleaned["description"] = str(data.get("description", flow.description if flow else "") or "")[:2000]
    object_type = str(data.get("object_type") or (flow.object_type if flow else ""))
    if object_type not in customfields.registered_objects():
        errors.setdefault("object_type", []).append(
            _("Choose one of: %(objects)s.") % {"objects": ", ".join(customfields.registered_objects())}
        )
    cleaned["object_type"] = object_type
    trigger = str(data.get("trigger") or (flow.trigger if flow else FlowTrigger.MANUAL))
    if trigger not in FlowTrigger.values:
        errors.setdefault("trigger", []).append(_("Choose manual or stage_change."))
    elif trigger == FlowTrigger.STAGE_CHANGE and object_type and object_type != "deal":
        errors.setdefault("trigger", []).append(_("Only deals move through stages."))
    cleaned["trigger"] = trigger
    conditions = data.get("conditions", flow.conditions if flow else [])
    if object_type in customfields.registered_objects():
        try:
            customfields.Registry(object_type).clean_filters(conditions or [], user=None)
        except ValidationError as exc:
            errors.setdefault("conditions", []).extend(exc.messages)
    cleaned["conditions"] = [
        {
            "field": c.get("field"),
            "op": c.get("op") or "eq",
            **({"value": c["value"]} if "value" in c else {}),
        }
        for c in (conditions or [])
        if isinstance(c, dict)
    ]
    cleaned["enabled"] = bool(data.get("enabled", flow.enabled if flow else True))
    try:
        cleaned["position"] = max(0, int(data.get("position", flow.position if flow else 0) or 0))
    except (TypeError, ValueError):
        errors.setdefault("position", []).append(_("Enter a whole number."))
    steps = data.get("steps")
    if steps is None and flow is None:
        errors.setdefault("steps", []).append(_("A flow needs at least one step."))
    if steps is not None:
        if not isinstance(steps, list) or not steps:
            errors.setdefault("steps", []).append(_("A flow needs at least one step."))
            steps = []
        cleaned_steps = []
        for n, raw in enumerate(steps, start=1):
            where = f"steps.{n}"
            if not isinstance(raw, dict):
                errors.setdefault(where, []).append(_("A step must be an object."))
                continue
            mode = str(raw.get("mode") or StepMode.ALL)
            if mode not in StepMode.values:
                errors.setdefault(f"{where}.mode", []).append(_("Choose all or any."))
            approvers = raw.get("approvers")
            if not isinstance(approvers, list) or not approvers:
                errors.setdefault(f"{where}.approvers", []).append(_("A step needs at least one approver."))
                approvers = []
            specs = [_clean_approver(a, f"{where}.approvers", errors) for a in approvers]
            timeout = raw.get("timeout_hours")
            if timeout in (None, "", 0):
                timeout = None
            else:
                try:
                    timeout = int(timeout)
                    if not 1 <= timeout <= MAX_TIMEOUT_HOURS:
                        raise ValueError
                except (TypeError, ValueError):
                    errors.setdefault(f"{where}.timeout_hours", []).append(
                        _("Enter hours from 1 to %(max)s.") % {"max": MAX_TIMEOUT_HOURS}
                    )
                    timeout = None
            action = str(raw.get("timeout_action") or "")
            if action not in TimeoutAction.values:
                errors.setdefault(f"{where}.timeout_action", []).append(_("Choose escalate or reject."))
            elif action and timeout is None:
                errors.setdefault(f"{where}.timeout_hours", []).append(
                    _("Give the hours after which the step times out.")
                )
            cleaned_steps.append(
                {
                    "name": str(raw.get("name") or "")[:100],
                    "mode": mode,
                    "approvers": [s for s in specs if s is not None],
                    "timeout_hours": timeout,
                    "timeout_action": action,
                }
            )
        cleaned["steps"] = cleaned_steps
    if errors:
        raise ValidationError(errors)
    return cleaned


def flow_snapshot(flow: ApprovalFlow) -> dict[str, Any]:
    return {
        "name": flow.name,
        "object_type": flow.object_type,
        "trigger": flow.trigger,
        "conditions": flow.conditions,
        "enabled": flow.enabled,
        "position": flow.position,
        "steps": [
            {k: getattr(s, k) for k in ("name", "mode", "approvers", "timeout_hours", "timeout_action")}
            for s in flow.steps.order_by("position", "id")
        ]
        if flow.pk
        else [],
    }


@transaction.atomic
def save_flow(data: dict[str, Any], *, actor, flow_id: int | None = None) -> ApprovalFlow:
    """Create or edit a flow and its steps (the full ordered list replaces the old steps; steps that
    pending requests stand on are kept aside, not deleted)."""
    require(actor, Perm.SETTINGS_MANAGE)
    flow = None
    if flow_id is not None:
        flow = ApprovalFlow.objects.select_for_update().filter(pk=as_id(flow_id)).first()
        if flow is None:
            raise NotFound(flow_id)
    cleaned = clean_flow(data, flow=flow)
    before = flow_snapshot(flow) if flow else None
    if flow is None:
        flow = ApprovalFlow()
    elif cleaned["object_type"] != flow.object_type and flow.requests.exists():
        raise ValidationError({"object_type": [_("This flow has requests: its object cannot change.")]})
    for key in ("name", "description", "object_type", "trigger", "conditions", "enabled", "position"):
        setattr(flow, key, cleaned[key])
    flow.save()
    if "steps" in cleaned:
        old = list(flow.steps.all())
        used = set(ApprovalDecision.objects.filter(step__in=old).values_list("step_id", flat=True)) | set(
            ApprovalRequest.objects.filter(current_step__in=old).values_list("current_step_id", flat=True)
        )
        for step in old:
            if step.pk in used:
                # Kept for the history of requests that went through it; no longer part of the flow.
                step.position = 10_000 + step.position
                step.save(update_fields=["position"])
            else:
                step.delete()
        for position, spec in enumerate(cleaned["steps"]):
            ApprovalStep.objects.create(flow=flow, position=position, **spec)
    after = flow_snapshot(flow)
    if before != after:
        audit.record(
            AuditAction.UPDATE if before else AuditAction.CREATE,
            flow,
            actor=actor,
            before=before,
            after=after,
        )
        emit(
            ApprovalEvent.FLOW_SAVED, flow, actor=actor, payload={"name": flow.name, "enabled": flow.enabled}
        )
    return flow


def flow_steps(flow: ApprovalFlow) -> list[ApprovalStep]:
    """The flow's live steps (steps kept aside for history sit at positions from 10,000)."""
    return list(flow.steps.filter(position__lt=10_000).order_by("position", "id"))


@transaction.atomic
def delete_flow(flow_id: int, *, actor) -> None:
    """Delete a flow that never had a request; a flow with requests is disabled instead."""
    require(actor, Perm.SETTINGS_MANAGE)
    flow = ApprovalFlow.objects.select_for_update().filter(pk=as_id(flow_id)).first()
    if flow is None:
        raise NotFound(flow_id)
    before = flow_snapshot(flow)
    if flow.requests.exists():
        if flow.enabled:
            flow.enabled = False
            flow.save(update_fields=["enabled", "updated_at"])
            audit.record(
                AuditAction.UPDATE, flow, actor=actor, before={"enabled": True}, after={"enabled": False}
            )
        return
    audit.record(AuditAction.DELETE, flow, actor=actor, before=before, after=None)
    flow.delete()


def example_flow_data(threshold: Any = None) -> dict[str, Any]:
    threshold = settings_store.get(THRESHOLD_SETTING) if threshold is None else threshold
    return {
        "name": _("Deal discount approval"),
        "description": _(
            "A deal whose discount is above the configured percentage needs approval before it moves to "
            "another stage: first the rep's manager, then the sales director and finance together."
        ),
        "object_type": "deal",
        "trigger": FlowTrigger.STAGE_CHANGE,
        "conditions": [{"field": "discount_percent", "op": "gt", "value": threshold}],
        "enabled": True,
        "steps": [
            {
                "name": _("Manager"),
                "mode": StepMode.ALL,
                "approvers": [{"kind": ApproverKind.MANAGER, "levels": 1}],
                "timeout_hours": 24,
                "timeout_action": TimeoutAction.ESCALATE,
            },
            {
                "name": _("Director and finance"),
                "mode": StepMode.ALL,
                "approvers": [
                    {"kind": ApproverKind.ROLE, "role": "sales_director"},
                    {"kind": ApproverKind.ROLE, "role": "finance"},
                ],
                "timeout_hours": 48,
                "timeout_action": TimeoutAction.ESCALATE,
            },
        ],
    }


@transaction.atomic
def install_example_flow(*, actor) -> ApprovalFlow:
    """The shipped deal-discount flow (idempotent: installed again, the existing one is returned).
    Creates the finance role if the company has none."""
    require(actor, Perm.SETTINGS_MANAGE)
    existing = ApprovalFlow.objects.filter(key=EXAMPLE_KEY).first()
    if existing is not None:
        return existing
    ensure_default_roles()
    flow = save_flow(example_flow_data(), actor=actor)
    flow.key = EXAMPLE_KEY
    flow.save(update_fields=["key"])
    return flow


@transaction.atomic
def set_discount_threshold(percent: Any, *, actor) -> decimal.Decimal:
    """The discount (%) above which a deal needs approval; updates the example flow's condition."""
    require(actor, Perm.SETTINGS_MANAGE)
    try:
        value = decimal.Decimal(str(percent).replace("%", "").strip())
        if not value.is_finite() or not 0 <= value <= 100:
            raise decimal.InvalidOperation
    except decimal.InvalidOperation:
        raise ValidationError({"threshold": [_("Enter a percentage from 0 to 100.")]}) from None
    number = int(value) if value == value.to_integral_value() else float(value)
    settings_store.put(THRESHOLD_SETTING, number, actor=actor)
    flow = ApprovalFlow.objects.filter(key=EXAMPLE_KEY).first()
    if flow is not None:
        conditions = [
            {**c, "value": number} if c.get("field") == "discount_percent" else c for c in flow.conditions
        ]
        save_flow({"conditions": conditions}, actor=actor, flow_id=flow.pk)
    return value


# --------------------------------------------------------------------------- approvers


def _manager_up(user: User | None, levels: int) -> User | None:
    """The manager `levels` up the chain (read fresh from the database; a loop ends the chain)."""
    seen = set()
    user_id = user.pk if user is not None else None
    for _level in range(levels):
        if user_id is None or user_id in seen:
            return None
        seen.add(user_id)
        user_id = User.objects.filter(pk=user_id).values_list("manager_id", flat=True).first()
    return User.objects.filter(pk=user_id).first() if user_id is not None else None


def resolve_slot(spec: dict, submitter: User | None) -> list[User]:
    """The active users an approver spec names for a request by `submitter`."""
    kind = spec.get("kind")
    users: list[User] = []
    if kind == ApproverKind.USER:
        users = list(User.objects.filter(pk=spec.get("user_id")))
    elif kind == ApproverKind.ROLE:
        users = list(User.objects.filter(role__code=spec.get("role")).order_by("pk"))
    elif kind == ApproverKind.MANAGER:
        manager = _manager_up(submitter, int(spec.get("levels") or 1))
        users = [manager] if manager else []
    elif kind == ApproverKind.DEPARTMENT_HEAD:
        department = (
            Department.objects.select_related("head", "parent__head")
            .filter(pk=submitter.department_id)
            .first()
            if submitter is not None and submitter.department_id
            else None
        )
        head = department.head if department is not None else None
        if head is not None and submitter is not None and head.pk == submitter.pk and department.parent:
            head = department.parent.head  # the head submitting: the parent department's head
        users = [head] if head else []
    return [u for u in users if u.is_active and (submitter is None or u.pk != submitter.pk)]


def _describe(spec: dict) -> str:
    kind = spec.get("kind")
    if kind == ApproverKind.USER:
        user = User.objects.filter(pk=spec.get("user_id")).first()
        return str(user) if user else str(spec.get("user_id"))
    if kind == ApproverKind.ROLE:
        role = Role.objects.filter(code=spec.get("role")).first()
        return _("role %(role)s") % {"role": role.name if role else spec.get("role")}
    if kind == ApproverKind.MANAGER:
        return _("manager %(levels)s level(s) up") % {"levels": spec.get("levels") or 1}
    return _("department head")


def describe_approver(spec: dict) -> str:
    return _describe(spec)


def _start_step(request: ApprovalRequest, step: ApprovalStep, *, actor, now: dt.datetime) -> None:
    rows = []
    for slot, spec in enumerate(step.approvers):
        users = resolve_slot(spec, request.submitter)
        if not users:
            raise ValidationError(
                {"flow": [_("Step %(step)s: nobody to ask for %(who)s.")
                          % {"step": step.position + 1, "who": _describe(spec)}]}
            )  # fmt: skip
        rows += [
            ApprovalDecision(request=request, step=step, slot=slot, approver=u, created_at=now) for u in users
        ]
    ApprovalDecision.objects.bulk_create(rows)
    request.current_step = step
    request.step_started_at = now
    request.step_due_at = now + dt.timedelta(hours=step.timeout_hours) if step.timeout_hours else None
    request.step_timed_out_at = None
    request.save(update_fields=["current_step", "step_started_at", "step_due_at", "step_timed_out_at"])
    emit(
        ApprovalEvent.STEP_STARTED,
        request,
        actor=actor,
        payload={**_record_payload(request), "step_id": step.pk,
                 "approver_ids": sorted({r.approver_id for r in rows})},
    )  # fmt: skip


def _record_payload(request: ApprovalRequest) -> dict:
    return {
        "object_type": request.object_type,
        "object_id": request.object_id,
        "flow_id": request.flow_id,
        "submitter_id": request.submitter_id,
    }


def _request_state(request: ApprovalRequest) -> dict:
    return {
        "status": request.status,
        "current_step": request.current_step_id,
        "final_comment": request.final_comment,
    }


# --------------------------------------------------------------------------- submitting


def pending_request_for(obj_or_type, object_id: int | None = None) -> ApprovalRequest | None:
    if object_id is None:
        object_type, object_id = object_type_of(obj_or_type), obj_or_type.pk
    else:
        object_type = obj_or_type
    return ApprovalRequest.objects.filter(
        object_type=object_type, object_id=object_id, status=RequestStatus.PENDING
    ).first()


def applicable_flows(obj: models.Model, *, trigger: str | None = None) -> list[ApprovalFlow]:
    object_type = object_type_of(obj)
    flows = ApprovalFlow.objects.filter(object_type=object_type, enabled=True).order_by("position", "id")
    if trigger is not None:
        flows = flows.filter(trigger=trigger)
    return [flow for flow in flows if _matches(flow, obj)]


@transaction.atomic
def submit(
    obj: models.Model,
    *,
    actor,
    flow: ApprovalFlow | None = None,
    reason: str = "",
    pending_change: dict | None = None,
) -> ApprovalRequest:
    """Send a record through an approval flow (flow None: the first enabled flow whose condition
    matches the record; ValidationError when none applies or one is already pending). The actor
    (None: the system, e.g. an automation rule) must be able to see the record; they are the
    submitter (None: the record's owner, if it has one). The first step starts at once."""
    object_type = object_type_of(obj)
    if object_type is None:
        raise ValidationError({"object_type": [_("This kind of record cannot be approved.")]})
    _refuse_odd_text({"reason": reason}, ("reason",))
    if actor is not None and not visible(object_type, obj.pk, actor):
        raise NotFound(obj.pk)
    if flow is None:
        flows = applicable_flows(obj)
        if not flows:
            raise ValidationError({"flow": [_("No enabled approval flow applies to this record.")]})
        flow = flows[0]
    elif not flow.enabled or flow.object_type != object_type:
        raise ValidationError({"flow": [_("This flow is disabled or is for another kind of record.")]})
    steps = flow_steps(flow)
    if not steps:
        raise ValidationError({"flow": [_("This flow has no steps.")]})
    if pending_request_for(object_type, obj.pk) is not None:
        raise ValidationError({"flow": [_("An approval is already pending for this record.")]})
    submitter = actor if isinstance(actor, User) else getattr(obj, "owner", None)
    now = timezone.now()
    request = ApprovalRequest(
        object_type=object_type,
        object_id=obj.pk,
        object_repr=str(obj)[:200],
        flow=flow,
        submitter=submitter,
        reason=str(reason or "")[:COMMENT_MAX],
        snapshot=snapshot_of(flow, obj),
        pending_change=pending_change or {},
        created_at=now,
    )
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError:
        raise ValidationError({"flow": [_("An approval is already pending for this record.")]}) from None
    audit.record(
        AuditAction.CREATE, request, actor=actor, before=None,
        after={"flow": flow.pk, "object": f"{object_type}:{obj.pk}", "snapshot": request.snapshot,
               "pending_change": request.pending_change, "reason": request.reason},
    )  # fmt: skip
    emit(ApprovalEvent.SUBMITTED, request, actor=actor, payload=_record_payload(request))
    _start_step(request, steps[0], actor=actor, now=now)
    return request


# --------------------------------------------------------------------------- deciding


def delegators_of(user, on: dt.date | None = None) -> list[int]:
    """The users `user` stands in for today (their delegations cover the date)."""
    if user is None:
        return []
    on = on or timezone.localdate()
    return list(
        Delegation.objects.filter(delegate=user, starts_on__lte=on, ends_on__gte=on).values_list(
            "user_id", flat=True
        )
    )


def active_delegates(user_ids, on: dt.date | None = None) -> dict[int, list[int]]:
    on = on or timezone.localdate()
    result: dict[int, list[int]] = {}
    for user_id, delegate_id in Delegation.objects.filter(
        user_id__in=list(user_ids), starts_on__lte=on, ends_on__gte=on
    ).values_list("user_id", "delegate_id"):
        result.setdefault(user_id, []).append(delegate_id)
    return result


def _open_rows_for(request: ApprovalRequest, user) -> list[ApprovalDecision]:
    """The waiting rows of the current step that `user` may decide (their own first, then as delegate)."""
    if user is None or request.status != RequestStatus.PENDING or request.current_step_id is None:
        return []
    rows = ApprovalDecision.objects.filter(
        request=request, step_id=request.current_step_id, decision=Decision.PENDING
    )
    own = list(rows.filter(approver=user))
    if own:
        return own
    return list(rows.filter(approver_id__in=delegators_of(user)))


def can_decide(request: ApprovalRequest, user) -> bool:
    return bool(_open_rows_for(request, user))


def get_request(request_id: int) -> ApprovalRequest:
    request = ApprovalRequest.objects.filter(pk=as_id(request_id)).first() if as_id(request_id) else None
    if request is None:
        raise NotFound(request_id)
    return request


def may_view(request: ApprovalRequest, user) -> bool:
    """The submitter, anyone asked in it (or their delegate), settings managers, and whoever sees the record."""
    if user is None or user.is_superuser or user.has_perm_code(Perm.SETTINGS_MANAGE):
        return True
    if request.submitter_id == user.pk:
        return True
    asked = set(request.decisions.values_list("approver_id", flat=True))
    if user.pk in asked or asked & set(delegators_of(user)):
        return True
    return visible(request.object_type, request.object_id, user)


@transaction.atomic
def decide(
    request_id: int,
    *,
    actor,
    decision: str,
    comment: str = "",
    via: str = "page",
    as_approver_id: int | None = None,
) -> ApprovalRequest:
    """Approve or reject the current step of a request for `actor` (an approver of it, or the active
    delegate of one: recorded as deciding for them). A reject needs a comment and ends the request.
    `as_approver_id` (signed links): only the rows of that approver may be decided, and only by them.
    A user who may not decide gets PermissionDenied and nothing changes; a request that is no longer
    pending raises ValidationError."""
    if decision not in (Decision.APPROVED, Decision.REJECTED):
        raise ValidationError({"decision": [_("Choose approve or reject.")]})
    comment = str(comment or "").strip()
    _refuse_odd_text({"comment": comment}, ("comment",))
    if len(comment) > COMMENT_MAX:
        raise ValidationError({"comment": [_("At most %(max)s characters.") % {"max": COMMENT_MAX}]})
    if decision == Decision.REJECTED and not comment:
        raise ValidationError({"comment": [_("Say why you reject it.")]})
    request = ApprovalRequest.objects.select_for_update().filter(pk=as_id(request_id)).first()
    if request is None:
        raise NotFound(request_id)
    if not isinstance(actor, User) or (as_approver_id is not None and as_approver_id != actor.pk):
        raise PermissionDenied("approvals.decide")
    if request.status != RequestStatus.PENDING:
        asked = request.decisions.filter(approver_id__in=[actor.pk, *delegators_of(actor)]).exists()
        if not asked:  # outside the chain: 403 whatever the state
            raise PermissionDenied("approvals.decide")
        raise ValidationError({"decision": [_("This request has already been decided.")]})
    rows = _open_rows_for(request, actor)
    if not rows:
        raise PermissionDenied("approvals.decide")
    now = timezone.now()
    approver_id = rows[0].approver_id
    rows = [r for r in rows if r.approver_id == approver_id]
    before = _request_state(request)
    for row in rows:
        row.decision, row.comment, row.decided_at, row.decided_by, row.via = (
            decision, comment, now, actor, via[:10],
        )  # fmt: skip
        row.save(update_fields=["decision", "comment", "decided_at", "decided_by", "via"])
    step = request.current_step
    emit(
        ApprovalEvent.DECIDED, request, actor=actor,
        payload={**_record_payload(request), "step_id": step.pk, "approver_id": approver_id,
                 "decided_by_id": actor.pk, "decision": decision},
    )  # fmt: skip
    if decision == Decision.REJECTED:
        _finish_rejected(request, actor=actor, comment=comment, now=now, auto=False)
        step = None
    else:
        # A slot is decided by its first member: the others of it are no longer asked.
        ApprovalDecision.objects.filter(
            request=request, step=step, slot__in={r.slot for r in rows}, decision=Decision.PENDING
        ).update(decision=Decision.SKIPPED)
    if step is not None and _step_done(request, step):
        _skip_waiting(request, step)
        _advance(request, step, actor=actor, now=now)
    audit.record(
        AuditAction.UPDATE, request, actor=actor, before=before,
        after={**_request_state(request), "decision": decision, "comment": comment,
               "for": approver_id if approver_id != actor.pk else None},
    )  # fmt: skip
    return request


def approve(request_id: int, *, actor, comment: str = "", via: str = "page") -> ApprovalRequest:
    return decide(request_id, actor=actor, decision=Decision.APPROVED, comment=comment, via=via)


def reject(request_id: int, *, actor, comment: str, via: str = "page") -> ApprovalRequest:
    return decide(request_id, actor=actor, decision=Decision.REJECTED, comment=comment, via=via)


def _step_done(request: ApprovalRequest, step: ApprovalStep) -> bool:
    rows = list(ApprovalDecision.objects.filter(request=request, step=step).values_list("slot", "decision"))
    slots = {slot for slot, _d in rows}
    approved = {slot for slot, d in rows if d == Decision.APPROVED}
    if step.mode == StepMode.ANY:
        return bool(approved)
    return slots == approved


def _skip_waiting(request: ApprovalRequest, step: ApprovalStep) -> None:
    ApprovalDecision.objects.filter(request=request, step=step, decision=Decision.PENDING).update(
        decision=Decision.SKIPPED
    )


def _advance(request: ApprovalRequest, step: ApprovalStep, *, actor, now: dt.datetime) -> None:
    later = [s for s in flow_steps(request.flow) if s.position > step.position]
    if later:
        _start_step(request, later[0], actor=actor, now=now)
        return
    request.status = RequestStatus.APPROVED
    request.decided_at = now
    request.step_due_at = None
    request.save(update_fields=["status", "decided_at", "step_due_at"])
    emit(ApprovalEvent.APPROVED, request, actor=actor, payload=_record_payload(request))
    _apply_pending_change(request)


def _apply_pending_change(request: ApprovalRequest) -> None:
    """Make the change the request held back (a stage move), as the submitter; a change that can no
    longer be made (the deal changed meanwhile) is noted on the request, the approval stands."""
    applier = _appliers.get(request.object_type)
    if not request.pending_change or applier is None:
        return
    obj = load_object(request.object_type, request.object_id)
    if obj is None:
        return
    error = ""
    try:
        with transaction.atomic():
            try:
                applier(obj, request.pending_change, request.submitter)
            except locks.TransitionHeld as held:  # held again by another flow: that one is pending now
                error = held.message
    except (ValidationError, PermissionDenied, NotFound) as exc:
        error = "; ".join(getattr(exc, "messages", None) or [str(exc)])
    if error:
        request.apply_error = error[:2000]
        request.save(update_fields=["apply_error"])


def _finish_rejected(request: ApprovalRequest, *, actor, comment: str, now: dt.datetime, auto: bool) -> None:
    if request.current_step_id:
        _skip_waiting(request, request.current_step)
    request.status = RequestStatus.REJECTED
    request.decided_at = now
    request.final_comment = comment
    request.step_due_at = None
    request.save(update_fields=["status", "decided_at", "final_comment", "step_due_at"])
    emit(
        ApprovalEvent.REJECTED, request, actor=actor,
        payload={**_record_payload(request), "decided_by_id": actor.pk if isinstance(actor, User) else None,
                 "comment": comment, "auto": auto},
    )  # fmt: skip


@transaction.atomic
def cancel(request_id: int, *, actor) -> ApprovalRequest:
    """The submitter (or a settings manager) withdraws a pending request; the record is unlocked."""
    request = ApprovalRequest.objects.select_for_update().filter(pk=as_id(request_id)).first()
    if request is None:
        raise NotFound(request_id)
    if actor is not None and request.submitter_id != actor.pk:
        require(actor, Perm.SETTINGS_MANAGE)
    if request.status != RequestStatus.PENDING:
        raise ValidationError({"status": [_("This request has already been decided.")]})
    before = _request_state(request)
    if request.current_step_id:
        _skip_waiting(request, request.current_step)
    request.status = RequestStatus.CANCELLED
    request.decided_at = timezone.now()
    request.step_due_at = None
    request.save(update_fields=["status", "decided_at", "step_due_at"])
    audit.record(AuditAction.UPDATE, request, actor=actor, before=before, after=_request_state(request))
    emit(ApprovalEvent.CANCELLED, request, actor=actor, payload=_record_payload(request))
    return request


# --------------------------------------------------------------------------- timeouts


def overdue_requests(now: dt.datetime | None = None) -> models.QuerySet:
    """Pending requests whose current step is past its timeout and was not handled yet (one query)."""
    now = now or timezone.now()
    return ApprovalRequest.objects.filter(
        status=RequestStatus.PENDING, step_due_at__lte=now, step_timed_out_at__isnull=True
    )


def process_timeouts(now: dt.datetime | None = None, chunk: int = 500) -> dict[str, int]:
    """Escalate or auto-reject every overdue step exactly once: the set of overdue requests is one
    query; each is then locked (skipping rows another worker holds), checked again and handled in its
    own transaction, marked `step_timed_out_at` so it is never handled twice."""
    now = now or timezone.now()
    counts = {"escalated": 0, "rejected": 0}
    ids = list(overdue_requests(now).order_by("pk").values_list("pk", flat=True)[:chunk])
    for request_id in ids:
        outcome = _time_out(request_id, now)
        if outcome:
            counts[outcome] += 1
    return counts


@transaction.atomic
def _time_out(request_id: int, now: dt.datetime) -> str | None:
    request = overdue_requests(now).select_for_update(skip_locked=True).filter(pk=request_id).first()
    if request is None:
        return None
    step = request.current_step
    request.step_timed_out_at = now
    request.save(update_fields=["step_timed_out_at"])
    before = _request_state(request)
    if step.timeout_action == TimeoutAction.REJECT:
        _finish_rejected(request, actor=None, comment=_("Rejected automatically: the step timed out."),
                         now=now, auto=True)  # fmt: skip
        audit.record(AuditAction.UPDATE, request, actor=None, before=before, after=_request_state(request))
        return "rejected"
    if step.timeout_action != TimeoutAction.ESCALATE:
        return None
    waiting = ApprovalDecision.objects.filter(request=request, step=step).select_related("approver__manager")
    rows = list(waiting)
    done_slots = {r.slot for r in rows if r.decision == Decision.APPROVED}
    present = {(r.slot, r.approver_id) for r in rows}
    added = []
    for row in rows:
        if row.slot in done_slots or row.decision != Decision.PENDING:
            continue
        manager = row.approver.manager
        if manager is None or not manager.is_active or (row.slot, manager.pk) in present:
            continue
        if request.submitter_id == manager.pk:
            continue
        present.add((row.slot, manager.pk))
        added.append(
            ApprovalDecision(request=request, step=step, slot=row.slot, approver=manager, escalated=True,
                             created_at=now)
        )  # fmt: skip
    ApprovalDecision.objects.bulk_create(added)
    approver_ids = sorted({r.approver_id for r in added})
    audit.record(
        AuditAction.UPDATE, request, actor=None, before=before,
        after={**_request_state(request), "escalated_to": approver_ids},
    )  # fmt: skip
    emit(
        ApprovalEvent.ESCALATED, request, actor=None,
        payload={**_record_payload(request), "step_id": step.pk, "approver_ids": approver_ids},
    )  # fmt: skip
    return "escalated"


# --------------------------------------------------------------------------- delegation


@transaction.atomic
def set_delegation(data: dict[str, Any], *, actor) -> Delegation:
    """`actor` names a delegate for their approvals from / to (inclusive dates). An org manager may
    set one for anyone (`user_id`)."""
    if not isinstance(actor, User):
        raise PermissionDenied("approvals.delegate")
    errors: dict[str, list[str]] = {}
    user_id = as_id(data.get("user_id")) if data.get("user_id") not in (None, "") else actor.pk
    if user_id != actor.pk:
        require(actor, Perm.ORG_MANAGE)
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        errors.setdefault("user_id", []).append(_("Unknown user."))
    delegate = User.objects.filter(pk=as_id(data.get("delegate_id")), is_active=True).first() if as_id(
        data.get("delegate_id")
    ) else None  # fmt: skip
    if delegate is None:
        errors.setdefault("delegate_id", []).append(_("Choose an active user."))
    elif delegate.pk == user_id:
        errors.setdefault("delegate_id", []).append(_("Choose someone else."))
    dates = {}
    for key in ("starts_on", "ends_on"):
        value = data.get(key)
        try:
            dates[key] = (
                value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value or "").strip())
            )
        except ValueError:
            errors.setdefault(key, []).append(_("Enter a date such as 2026-03-01."))
    if len(dates) == 2 and dates["ends_on"] < dates["starts_on"]:
        errors.setdefault("ends_on", []).append(_("The end is before the start."))
    if errors:
        raise ValidationError(errors)
    delegation = Delegation.objects.create(user=user, delegate=delegate, **dates)
    audit.record(
        AuditAction.CREATE, delegation, actor=actor, before=None,
        after={"user": user.pk, "delegate": delegate.pk, **dates},
    )  # fmt: skip
    return delegation


@transaction.atomic
def end_delegation(delegation_id: int, *, actor) -> None:
    delegation = Delegation.objects.select_for_update().filter(pk=as_id(delegation_id)).first()
    if delegation is None:
        raise NotFound(delegation_id)
    if actor is not None and delegation.user_id != actor.pk:
        require(actor, Perm.ORG_MANAGE)
    audit.record(
        AuditAction.DELETE, delegation, actor=actor, before={"delegate": delegation.delegate_id}, after=None
    )
    delegation.delete()


# --------------------------------------------------------------------------- signed links


def link_token(request: ApprovalRequest, approver_id: int) -> str:
    """A signed token for one approver of one request's current step (in the notification's link)."""
    return signing.dumps({"r": request.pk, "u": approver_id, "s": request.current_step_id}, salt=LINK_SALT)


def read_link_token(token: str) -> dict[str, int] | None:
    """(request, approver, step) from a token that is genuine and not expired; None otherwise."""
    max_age = getattr(settings, "GUANXI_APPROVAL_LINK_MAX_AGE", 7 * 24 * 3600)
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=max_age)
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), int) for k in ("r", "u")):
        return None
    return {"request_id": data["r"], "approver_id": data["u"], "step_id": data.get("s")}


def decide_by_link(token: str, *, actor, decision: str, comment: str = "") -> ApprovalRequest:
    """Decide from a signed link: only the approver it was made for, only for the step it was made
    for, only while that is still waiting. Anything else raises and changes nothing."""
    data = read_link_token(token)
    if data is None:
        raise ValidationError({"token": [_("This link is invalid or has expired.")]})
    request = get_request(data["request_id"])
    if request.current_step_id != data["step_id"] or request.status != RequestStatus.PENDING:
        raise ValidationError({"token": [_("This request has already been decided.")]})
    return decide(
        request.pk,
        actor=actor,
        decision=decision,
        comment=comment,
        via="link",
        as_approver_id=data["approver_id"],
    )


# --------------------------------------------------------------------------- reads


def waiting_for(user) -> models.QuerySet:
    """Pending requests whose current step waits for `user` (or for someone they stand in for)."""
    approver_ids = [user.pk, *delegators_of(user)]
    rows = ApprovalDecision.objects.filter(
        approver_id__in=approver_ids, decision=Decision.PENDING, step_id=models.OuterRef("current_step_id"),
        request_id=models.OuterRef("pk"),
    )  # fmt: skip
    return (
        ApprovalRequest.objects.filter(status=RequestStatus.PENDING)
        .filter(models.Exists(rows))
        .select_related("flow", "submitter", "current_step")
        .order_by("step_due_at", "created_at")
    )


def requests_for(object_type: str, object_id: int) -> list[ApprovalRequest]:
    return list(
        ApprovalRequest.objects.filter(object_type=object_type, object_id=object_id)
        .select_related("flow", "submitter", "current_step")
        .prefetch_related("decisions__approver", "decisions__decided_by", "decisions__step")
        .order_by("-created_at", "-id")
    )


def approver_rows(request: ApprovalRequest) -> list[ApprovalDecision]:
    return list(
        request.decisions.select_related("approver", "decided_by", "step").order_by(
            "step__position", "slot", "id"
        )
    )
