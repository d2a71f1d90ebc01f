"""Follow-up and task pages: thin callers of queries and follow_ups."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.core.http import safe_next
from guanxi.customers import queries as customer_queries
from guanxi.engagement.actions import cadences, follow_ups
from guanxi.engagement.forms import FollowUpForm, TaskForm, add_action_errors


def _back(request, default: str):
    return redirect(safe_next(request) or default)


@login_required
@require_POST
def log_follow_up(request, customer_id: int):
    if customer_queries.get_visible(request.user, customer_id) is None:
        raise Http404
    form = FollowUpForm(request.POST)
    if form.is_valid():
        try:
            follow_ups.log_follow_up(customer_id, form.to_action_data(), actor=request.user)
        except ValidationError as exc:
            add_action_errors(form, exc)
        else:
            messages.success(request, _("Follow-up saved."))
            return redirect("customers:detail", pk=customer_id)
    customer = customer_queries.get_visible(request.user, customer_id)
    return render(request, "engagement/follow_up_form.html", {"form": form, "customer": customer}, status=200)


@login_required
@require_POST
def create_task(request, customer_id: int):
    form = TaskForm(request.POST)
    if form.is_valid():
        try:
            follow_ups.create_task({**form.cleaned_data, "customer_id": customer_id}, actor=request.user)
        except ValidationError as exc:
            add_action_errors(form, exc)
        else:
            messages.success(request, _("Task created."))
            return redirect("customers:detail", pk=customer_id)
    for field, errors in form.errors.items():
        messages.error(
            request, f"{form.fields[field].label if field in form.fields else ''}: {' '.join(errors)}"
        )
    return redirect("customers:detail", pk=customer_id)


def _close_task(request, task_id: int, *, cancel: bool):
    """Complete or cancel a task from the today page or the customer page (htmx or plain POST)."""
    close = follow_ups.cancel_task if cancel else follow_ups.complete_task
    try:
        close(task_id, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    if request.htmx:
        return render(request, "engagement/_task_done.html", {"task_id": task_id, "cancelled": cancel})
    return _back(request, "today")


@login_required
@require_POST
def complete_task(request, task_id: int):
    return _close_task(request, task_id, cancel=False)


@login_required
@require_POST
def cancel_task(request, task_id: int):
    return _close_task(request, task_id, cancel=True)


@login_required
@require_POST
def cadence_state(request, enrollment_id: int):
    try:
        enrollment = cadences.set_cadence_state(
            enrollment_id, request.POST.get("state", ""), actor=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _back(request, "today")
    return redirect("customers:detail", pk=enrollment.customer_id)


@login_required
@require_POST
def start_cadence(request, customer_id: int):
    enrollment = cadences.start_cadence(customer_id, request.POST.get("cadence") or None, actor=request.user)
    if enrollment is None:
        messages.info(request, _("No cadence applies, or one is already running."))
    return redirect("customers:detail", pk=customer_id)
