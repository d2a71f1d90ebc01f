"""Approvals pages: waiting for me, a request, deciding (page and signed link), submitting from a
record's panel, delegation, and the flow settings. Thin callers of `guanxi.approvals.actions`."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.approvals import actions
from guanxi.approvals.models import ApprovalFlow, Decision, Delegation, FlowTrigger, StepMode, TimeoutAction
from guanxi.core import settings_store
from guanxi.core.converters import as_id
from guanxi.core.exceptions import require
from guanxi.core.http import safe_next
from guanxi.core.models import User
from guanxi.core.permissions import Perm
from guanxi.customization import registry as customfields


def _record_url(approval) -> str:
    if approval.object_type == "deal":
        return reverse("deals:detail", args=[approval.object_id])
    if approval.object_type == "customer":
        return reverse("customers:detail", args=[approval.object_id])
    return reverse("approvals:detail", args=[approval.pk])


@login_required
def waiting(request):
    rows = list(actions.waiting_for(request.user)[:200])
    return render(request, "approvals/waiting.html", {"approvals": rows})


@login_required
def detail(request, pk: int):
    approval = actions.get_request(pk)
    if not actions.may_view(approval, request.user):
        raise Http404
    return render(
        request,
        "approvals/detail.html",
        {
            "approval": approval,
            "rows": actions.approver_rows(approval),
            "can_decide": actions.can_decide(approval, request.user),
            "record_url": _record_url(approval),
        },
    )


@login_required
@require_POST
def decide(request, pk: int):
    """Approve / reject from a page (the record's panel, the waiting list, the request page)."""
    decision = request.POST.get("decision", "")
    fallback = reverse("approvals:detail", args=[pk])
    try:
        actions.decide(pk, actor=request.user, decision=decision, comment=request.POST.get("comment", ""))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Approved.") if decision == Decision.APPROVED else _("Rejected."))
    return redirect(safe_next(request, fallback))


@login_required
@require_POST
def cancel(request, pk: int):
    try:
        actions.cancel(pk, actor=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("The approval request was withdrawn."))
    return redirect(safe_next(request, reverse("approvals:waiting")))


@login_required
@require_http_methods(["GET", "POST"])
def link(request, token: str):
    """The signed link of a notification: only the approver it was made for may decide, once."""
    data = actions.read_link_token(token)
    approval = actions.get_request(data["request_id"]) if data else None
    if data is not None and data["approver_id"] != request.user.pk:
        raise PermissionDenied("approvals.link")
    usable = (
        approval is not None
        and approval.current_step_id == data["step_id"]
        and actions.can_decide(approval, request.user)
    )
    if request.method == "POST" and usable:
        decision = request.POST.get("decision", "")
        try:
            actions.decide_by_link(
                token, actor=request.user, decision=decision, comment=request.POST.get("comment", "")
            )
        except ValidationError as exc:
            return render(
                request, "approvals/link.html",
                {"approval": approval, "usable": True, "errors": exc.messages, "token": token}, status=422,
            )  # fmt: skip
        messages.success(request, _("Approved.") if decision == Decision.APPROVED else _("Rejected."))
        return redirect("approvals:detail", pk=approval.pk)
    status = 200 if usable or request.method == "GET" else 409
    return render(
        request,
        "approvals/link.html",
        {"approval": approval, "usable": usable, "expired": data is None, "token": token,
         "rows": actions.approver_rows(approval) if approval else []},
        status=status,
    )  # fmt: skip


@login_required
@require_POST
def submit(request):
    object_type = request.POST.get("object_type", "")
    obj = actions.load_object(object_type, as_id(request.POST.get("object_id")) or 0)
    if obj is None or not actions.visible(object_type, obj.pk, request.user):
        raise Http404
    flow = ApprovalFlow.objects.filter(pk=as_id(request.POST.get("flow_id")) or 0).first()
    try:
        actions.submit(obj, actor=request.user, flow=flow, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Sent for approval."))
    return redirect(safe_next(request, reverse("approvals:waiting")))


@login_required
@require_http_methods(["GET", "POST"])
def delegation(request):
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if request.POST.get("end"):
            actions.end_delegation(as_id(request.POST.get("end")) or 0, actor=request.user)
            return redirect("approvals:delegation")
        try:
            actions.set_delegation(
                {k: request.POST.get(k, "") for k in ("delegate_id", "starts_on", "ends_on")},
                actor=request.user,
            )
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, _("Delegation saved."))
            return redirect("approvals:delegation")
    return render(
        request,
        "approvals/delegation.html",
        {
            "delegations": Delegation.objects.filter(user=request.user).select_related("delegate"),
            "standing_in": Delegation.objects.filter(delegate=request.user).select_related("user"),
            "users": User.objects.filter(is_active=True).exclude(pk=request.user.pk).order_by("username"),
            "errors": errors,
            "values": request.POST,
        },
        status=422 if errors else 200,
    )


# --------------------------------------------------------------------------- settings


@login_required
@require_http_methods(["GET", "POST"])
def flows(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    errors: list[str] = []
    if request.method == "POST":
        try:
            if request.POST.get("install_example"):
                actions.install_example_flow(actor=request.user)
                messages.success(request, _("The example flow is installed."))
            elif "threshold" in request.POST:
                actions.set_discount_threshold(request.POST.get("threshold"), actor=request.user)
                messages.success(request, _("Saved."))
            return redirect("approvals:flows")
        except ValidationError as exc:
            errors = exc.messages
    return render(
        request,
        "approvals/flows.html",
        {
            "flows": [(f, actions.flow_steps(f)) for f in ApprovalFlow.objects.all()],
            "threshold": settings_store.get(actions.THRESHOLD_SETTING),
            "has_example": ApprovalFlow.objects.filter(key=actions.EXAMPLE_KEY).exists(),
            "errors": errors,
        },
        status=422 if errors else 200,
    )


def _flow_initial(flow: ApprovalFlow | None) -> dict:
    if flow is None:
        return {"name": "", "object_type": "deal", "trigger": FlowTrigger.MANUAL, "enabled": True,
                "conditions": "[]", "steps": "[]", "description": ""}  # fmt: skip
    snap = actions.flow_snapshot(flow)
    steps = [
        {k: getattr(s, k) for k in ("name", "mode", "approvers", "timeout_hours", "timeout_action")}
        for s in actions.flow_steps(flow)
    ]
    return {
        **snap,
        "description": flow.description,
        "conditions": json.dumps(snap["conditions"], ensure_ascii=False, indent=1),
        "steps": json.dumps(steps, ensure_ascii=False, indent=1),
    }


@login_required
@require_http_methods(["GET", "POST"])
def flow_edit(request, pk: int | None = None):
    """A flow's form: name, object, trigger, enabled, and its conditions and steps as JSON (the
    format of the API, documented on the page)."""
    require(request.user, Perm.SETTINGS_MANAGE)
    flow = ApprovalFlow.objects.filter(pk=pk).first() if pk is not None else None
    if pk is not None and flow is None:
        raise Http404
    values = _flow_initial(flow)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if request.POST.get("delete") and flow is not None:
            actions.delete_flow(flow.pk, actor=request.user)
            messages.success(request, _("Flow deleted (disabled if it has requests)."))
            return redirect("approvals:flows")
        values = {k: request.POST.get(k, "") for k in ("name", "description", "object_type", "trigger",
                                                       "conditions", "steps")}  # fmt: skip
        values["enabled"] = bool(request.POST.get("enabled"))
        data = {k: values[k] for k in ("name", "description", "object_type", "trigger", "enabled")}
        for key in ("conditions", "steps"):
            try:
                data[key] = json.loads(values[key] or "[]")
            except ValueError:
                errors.setdefault(key, []).append(_("Write a JSON list (see the examples below)."))
        if not errors:
            try:
                saved = actions.save_flow(data, actor=request.user, flow_id=flow.pk if flow else None)
            except ValidationError as exc:
                errors = exc.message_dict
            else:
                messages.success(request, _("Flow saved."))
                return redirect("approvals:flow_edit", pk=saved.pk)
    return render(
        request,
        "approvals/flow_form.html",
        {
            "flow": flow,
            "values": values,
            "errors": errors,
            "objects": customfields.registered_objects(),
            "triggers": FlowTrigger.choices,
            "modes": StepMode.choices,
            "timeout_actions": TimeoutAction.choices,
            "example": json.dumps(actions.example_flow_data()["steps"], ensure_ascii=False, indent=1),
        },
        status=422 if errors else 200,
    )
