"""Lead assignment and handover pages: thin callers of `engagement.actions`
(`assignment`, `assignment_rules`, `handover`).

Forms (`forms_assignment.py`) only shape input; the rules (scope, validation) live in the actions.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.exceptions import require
from guanxi.core.http import safe_next
from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users
from guanxi.customers.models import Customer
from guanxi.engagement.actions import assignment, assignment_rules
from guanxi.engagement.actions import handover as handover_actions
from guanxi.engagement.forms_assignment import HandoverForm, RuleForm
from guanxi.engagement.models import Assignment, AssignmentRule, Handover, Task


def _add_action_errors(form: forms.Form, exc: ValidationError, aliases: dict[str, str] | None = None) -> None:
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, errors in exc.message_dict.items():
        name = (aliases or {}).get(field, field)
        form.add_error(name if name in form.fields else None, errors)


def _back(request, default: str):
    return redirect(safe_next(request) or default)


# --------------------------------------------------------------------------- rules


@login_required
def rule_list(request):
    require(request.user, Perm.CUSTOMER_ASSIGN)
    rules = list(AssignmentRule.objects.prefetch_related("members").order_by("position", "pk"))
    allowed = set(assignable_users(request.user).values_list("pk", flat=True))
    for rule in rules:
        rule.editable = all(member.pk in allowed for member in rule.members.all())
    visible = Customer.objects.visible_to(request.user)
    open_clocks = Assignment.objects.filter(first_response_at__isnull=True, customer__in=visible)
    context = {
        "rules": rules,
        "condition_keys": assignment_rules.CONDITION_KEYS,
        "waiting_leads": assignment.waiting_leads().visible_to(request.user).count(),
        "awaiting_response": open_clocks.filter(breach_notified_at__isnull=True).count(),
        "breached": open_clocks.filter(breach_notified_at__isnull=False).count(),
    }
    return render(request, "engagement/assignment_rules.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request, pk: int | None = None):
    require(request.user, Perm.CUSTOMER_ASSIGN)
    rule = None
    if pk is not None:
        rule = AssignmentRule.objects.filter(pk=pk).first()
        if rule is None:
            raise Http404
        assignment_rules.check_members_in_scope(rule.members.values_list("pk", flat=True), actor=request.user)
    if request.method == "POST":
        form = RuleForm(request.POST, actor=request.user)
        if form.is_valid():
            try:
                saved = assignment_rules.save_rule(
                    form.to_action_input(), actor=request.user, rule_id=rule.pk if rule else None
                )
            except ValidationError as exc:
                _add_action_errors(form, exc, {"member_ids": "members"})
            else:
                messages.success(request, _("Assignment rule “%(name)s” saved.") % {"name": saved.name})
                return redirect("assignment:rules")
    else:
        form = RuleForm(initial=RuleForm.initial_for(rule) if rule else None, actor=request.user)
    return render(request, "engagement/assignment_rule_form.html", {"form": form, "rule": rule})


@login_required
@require_POST
def rule_delete(request, pk: int):
    assignment_rules.delete_rule(pk, actor=request.user)
    messages.success(request, _("Assignment rule deleted."))
    return redirect("assignment:rules")


# --------------------------------------------------------------------------- handover and transfer


@login_required
@require_http_methods(["GET", "POST"])
def handover_page(request):
    """Pick who leaves and who receives, see what would move, confirm."""
    require(request.user, Perm.CUSTOMER_ASSIGN)
    data = request.POST if request.method == "POST" else (request.GET if "from_user" in request.GET else None)
    form = HandoverForm(data, actor=request.user)
    preview = None
    if data is not None and form.is_valid():
        include_tasks = form.cleaned_data["include_tasks"]
        if request.method == "POST":
            try:
                record = handover_actions.handover(
                    form.cleaned_data["from_user"].pk,
                    form.cleaned_data["to_user"].pk,
                    actor=request.user,
                    include_tasks=include_tasks,
                )
            except ValidationError as exc:
                _add_action_errors(form, exc)
            else:
                messages.success(request, _("Handover completed."))
                return redirect("assignment:handover_detail", pk=record.pk)
        preview = handover_actions.handover_preview(
            form.cleaned_data["from_user"].pk, actor=request.user, include_tasks=include_tasks
        )
    sources = handover_actions.handover_sources(request.user)
    recent = (
        Handover.objects.filter(Q(from_user__in=sources) | Q(to_user__in=sources))
        .select_related("from_user", "to_user", "actor")
        .order_by("-pk")[:20]
    )
    return render(
        request, "engagement/handover_form.html", {"form": form, "preview": preview, "recent": recent}
    )


@login_required
def handover_detail(request, pk: int):
    require(request.user, Perm.CUSTOMER_ASSIGN)
    sources = handover_actions.handover_sources(request.user)
    record = (
        Handover.objects.filter(Q(from_user__in=sources) | Q(to_user__in=sources), pk=pk)
        .select_related("from_user", "to_user", "actor")
        .first()
    )
    if record is None:
        raise Http404
    limit = 200
    summary = record.summary or {}
    customers = (
        Customer.objects.visible_to(request.user)
        .filter(pk__in=(summary.get("customer_ids") or [])[:limit])
        .select_related("owner")
        .order_by("name")
    )
    tasks = (
        Task.objects.visible_to(request.user)
        .filter(pk__in=(summary.get("task_ids") or [])[:limit])
        .select_related("customer", "owner")
        .order_by("due_at")
    )
    return render(
        request,
        "engagement/handover_detail.html",
        {"record": record, "summary": summary, "customers": customers, "tasks": tasks, "limit": limit},
    )


@login_required
@require_POST
def transfer(request):
    """Bulk transfer from the customer list: POST `customer_ids` (repeated) and `to_user`."""
    try:
        moved = handover_actions.transfer_customers(
            request.POST.getlist("customer_ids"), request.POST.get("to_user", ""), actor=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if moved:
            messages.success(request, _("%(count)d customer(s) transferred.") % {"count": moved})
        else:
            messages.info(
                request, _("Nothing to transfer: the selected customers already belong to that user.")
            )
    return _back(request, "customers:list")
