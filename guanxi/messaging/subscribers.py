"""Notifications are sent by subscribers to other apps' events, never by those apps' actions.

Each subscriber runs in the worker in its own transaction (core/events.py): a failing notification
is retried on its own and never rolls back the change that caused it. Texts and dedupe keys are the
ones the actions used to send directly.
"""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guanxi.approvals import actions as approval_actions
from guanxi.approvals.events import ApprovalEvent
from guanxi.approvals.models import ApprovalRequest
from guanxi.core.events import subscribe
from guanxi.core.models import Event, Role, User
from guanxi.core.permissions import Perm
from guanxi.customers.events import CustomerEvent
from guanxi.engagement.events import AssignmentEvent, EngagementEvent, PoolEvent
from guanxi.engagement.models import Assignment, OwnershipReason
from guanxi.messaging.actions import notify
from guanxi.webhooks.events import WebhookEvent


def _user(user_id) -> User | None:
    return User.objects.filter(pk=user_id).first() if user_id is not None else None


@subscribe(CustomerEvent.ASSIGNED)
def tell_rep_about_assigned_lead(event: Event) -> None:
    """A lead given to a rep by an assignment rule: the rep learns it and the first-response time."""
    payload = event.payload
    if payload.get("reason") not in (None, OwnershipReason.ASSIGNED):
        return  # claims, transfers, handovers... are told about by their own events
    rep_id = payload.get("to_owner_id") or payload.get("owner_id")
    found = Assignment.objects.select_related("customer", "owner")
    if payload.get("assignment_id"):
        assignment = found.filter(pk=payload["assignment_id"]).first()
    else:
        assignment = found.filter(customer_id=event.object_id, owner_id=rep_id).order_by("-pk").first()
    if assignment is None:
        return  # owner changes without a rule assignment send nothing here
    customer, rep = assignment.customer, assignment.owner
    due = timezone.localtime(assignment.first_response_due_at)
    notify(
        rep,
        kind="lead_assigned",
        title=_("New lead: %(name)s") % {"name": customer.name},
        body=_("Please contact this lead by %(due)s.") % {"due": due.strftime("%Y-%m-%d %H:%M")},
        url=reverse("customers:detail", args=[customer.pk]),
        dedupe_key=f"lead_assigned:{customer.pk}:{rep.pk}",
    )


@subscribe(AssignmentEvent.LEAD_RESPONSE_OVERDUE)
def tell_about_late_first_response(event: Event) -> None:
    """A lead not contacted by its first-response target: the rep and their manager are told."""
    assignment = (
        Assignment.objects.select_related("owner__manager", "customer")
        .filter(pk=event.payload.get("assignment_id"))
        .first()
    )
    if assignment is None:
        return
    rep, customer = assignment.owner, assignment.customer
    url = reverse("customers:detail", args=[customer.pk])
    values = {
        "customer": customer.name,
        "rep": rep,
        "due": timezone.localtime(assignment.first_response_due_at).strftime("%Y-%m-%d %H:%M"),
    }
    notify(
        rep,
        kind="lead_response_overdue",
        title=_("First response overdue: %(customer)s") % values,
        body=_("This lead should have been contacted by %(due)s. Please follow up now.") % values,
        url=url,
        dedupe_key=f"lead_breach:{assignment.pk}:rep",
    )
    if rep.manager is not None:
        notify(
            rep.manager,
            kind="lead_response_breach",
            title=_("Lead not contacted in time: %(customer)s") % values,
            body=_("%(rep)s has not followed up this lead; the first-response target was %(due)s.") % values,
            url=url,
            dedupe_key=f"lead_breach:{assignment.pk}:manager",
        )


@subscribe(AssignmentEvent.HANDOVER_COMPLETED)
def tell_receiver_about_handover(event: Event) -> None:
    payload = event.payload
    from_user, to_user = _user(payload.get("from_user_id")), _user(payload.get("to_user_id"))
    if from_user is None or to_user is None:
        return
    notify(
        to_user,
        kind="handover_received",
        title=_("Handover from %(name)s") % {"name": from_user},
        body=_("You now own %(customers)d customer(s) and %(tasks)d open task(s) from %(name)s.")
        % {"customers": payload.get("customers", 0), "tasks": payload.get("tasks", 0), "name": from_user},
        url=reverse("assignment:handover_detail", args=[event.object_id]),
        dedupe_key=f"handover:{event.object_id}",
    )


@subscribe(AssignmentEvent.CUSTOMERS_TRANSFERRED)
def tell_receiver_about_transfer(event: Event) -> None:
    payload = event.payload
    to_user = _user(payload.get("to_user_id"))
    if to_user is None or event.actor_id == to_user.pk:
        return  # nobody needs telling that they moved customers to themselves
    actor = event.actor
    count, tasks = len(payload.get("customer_ids") or []), len(payload.get("task_ids") or [])
    notify(
        to_user,
        kind="customers_transferred",
        title=_("%(count)d customer(s) transferred to you") % {"count": count},
        body=_("%(actor)s transferred %(count)d customer(s) and %(tasks)d open task(s) to you.")
        % {"actor": actor if actor is not None else _("System"), "count": count, "tasks": tasks},
        url=reverse("customers:list") + f"?owner={to_user.pk}",
    )


@subscribe(EngagementEvent.TASKS_OVERDUE)
def remind_owner_of_overdue_tasks(event: Event) -> None:
    payload = event.payload
    count = payload["count"]
    notify(
        _user(payload["owner_id"]),
        kind="task_overdue",
        title=_("%(count)d overdue task(s)") % {"count": count},
        body=_("You have %(count)d overdue task(s). Open your today page to work them.") % {"count": count},
        url=reverse("today"),
        dedupe_key=f"overdue:{payload['owner_id']}:{payload['at']}",
    )


@subscribe(EngagementEvent.TASKS_ESCALATED)
def tell_manager_about_escalated_tasks(event: Event) -> None:
    payload = event.payload
    owner = _user(payload["owner_id"])
    if owner is None:
        return
    notify(
        _user(payload["manager_id"]),
        kind="task_escalated",
        title=_("%(name)s has %(count)d task(s) overdue") % {"name": owner, "count": payload["count"]},
        body=_("These tasks were not done after the reminder. Check in with %(name)s.") % {"name": owner},
        url=reverse("today") + "?team=overdue",
        dedupe_key=f"escalation:{payload['manager_id']}:{payload['owner_id']}:{payload['at']}",
    )


@subscribe(PoolEvent.WARNING)
def warn_owner_of_customers_returning_to_pool(event: Event) -> None:
    payload = event.payload
    count, names = payload["count"], payload.get("names") or []
    title = ngettext(
        "%(count)d of your customers returns to the public pool within %(days)d days",
        "%(count)d of your customers return to the public pool within %(days)d days",
        count,
    ) % {"count": count, "days": payload["days"]}
    listed = "、".join(names) + ("…" if count > len(names) else "")
    notify(
        _user(payload["owner_id"]),
        kind="pool.warning",
        title=title,
        body=_("Follow up to keep them: %(names)s") % {"names": listed},
        url=reverse("pool:at_risk"),
        dedupe_key=f"pool-warn:{payload['owner_id']}:{payload['day']}",
    )


def _settings_managers() -> list[User]:
    """Active users holding settings.manage: superusers and members of roles granting it (roles are
    few; their permission lists are read in Python, the same on SQLite and PostgreSQL)."""
    role_ids = [
        pk
        for pk, perms in Role.objects.values_list("pk", "permissions")
        if Perm.SETTINGS_MANAGE in (perms or [])
    ]
    return list(User.objects.filter(Q(is_superuser=True) | Q(role_id__in=role_ids), is_active=True))


@subscribe(WebhookEvent.ENDPOINT_DISABLED)
def tell_admins_about_disabled_webhook(event: Event) -> None:
    """An outgoing webhook endpoint the worker disabled after repeated failures: every user who
    manages settings is told (disabling it by hand tells nobody)."""
    payload = event.payload
    if not payload.get("automatic"):
        return
    values = {"name": payload.get("name", ""), "count": payload.get("failures") or 0}
    for user in _settings_managers():
        notify(
            user,
            kind="webhook_disabled",
            title=_("Webhook endpoint %(name)s was disabled") % values,
            body=_(
                "It failed %(count)d times in a row. Check the receiver, then enable the endpoint again "
                "on its page; waiting deliveries are sent then."
            )
            % values,
            url=reverse("webhooks:endpoint", args=[event.object_id]),
            dedupe_key=f"webhook_disabled:{event.pk}:{user.pk}",
        )


# --------------------------------------------------------------------------- approvals


def _approval(event: Event):
    return ApprovalRequest.objects.select_related("flow", "submitter").filter(pk=event.object_id).first()


def _record_url(approval) -> str:
    if approval.object_type == "deal":
        return reverse("deals:detail", args=[approval.object_id])
    if approval.object_type == "customer":
        return reverse("customers:detail", args=[approval.object_id])
    return reverse("approvals:detail", args=[approval.pk])


def _ask_approvers(approval, approver_ids, *, kind: str, title: str, key: str) -> None:
    delegates = approval_actions.active_delegates(approver_ids)
    for approver in User.objects.filter(pk__in=approver_ids):
        url = reverse("approvals:link", args=[approval_actions.link_token(approval, approver.pk)])
        body = _(
            "%(submitter)s asks for your approval of %(record)s (%(flow)s). Open the link to decide."
        ) % {
            "submitter": approval.submitter or _("System"),
            "record": approval.object_repr,
            "flow": approval.flow.name,
        }
        notify(approver, kind=kind, title=title, body=body, url=url, dedupe_key=f"{key}:{approver.pk}")
        for delegate in User.objects.filter(pk__in=delegates.get(approver.pk, [])):
            notify(
                delegate,
                kind=kind,
                title=title,
                body=_("You stand in for %(approver)s: %(body)s") % {"approver": approver, "body": body},
                url=reverse("approvals:detail", args=[approval.pk]),
                dedupe_key=f"{key}:{approver.pk}:delegate:{delegate.pk}",
            )


@subscribe(ApprovalEvent.STEP_STARTED)
def ask_approvers_of_step(event: Event) -> None:
    """A step started: each approver gets a notification with a signed link to decide."""
    approval = _approval(event)
    if approval is None or approval.current_step_id != event.payload.get("step_id"):
        return  # the step is already over
    _ask_approvers(
        approval,
        event.payload.get("approver_ids") or [],
        kind="approval_requested",
        title=_("Approval needed: %(record)s") % {"record": approval.object_repr},
        key=f"approval:{approval.pk}:step:{event.payload.get('step_id')}",
    )


@subscribe(ApprovalEvent.ESCALATED)
def ask_escalated_approvers(event: Event) -> None:
    """A step timed out and was escalated: the managers added to it are asked."""
    approval = _approval(event)
    if approval is None or approval.current_step_id != event.payload.get("step_id"):
        return
    _ask_approvers(
        approval,
        event.payload.get("approver_ids") or [],
        kind="approval_escalated",
        title=_("Approval overdue, escalated to you: %(record)s") % {"record": approval.object_repr},
        key=f"approval:{approval.pk}:escalated:{event.payload.get('step_id')}",
    )


@subscribe(ApprovalEvent.APPROVED, ApprovalEvent.REJECTED)
def tell_submitter_the_result(event: Event) -> None:
    """The submitter learns the result, with the rejecting approver's comment."""
    approval = _approval(event)
    if approval is None or approval.submitter is None:
        return
    values = {"record": approval.object_repr, "flow": approval.flow.name}
    if event.name == ApprovalEvent.APPROVED:
        title = _("Approved: %(record)s") % values
        body = _("%(flow)s was approved.") % values
        if approval.apply_error:
            body += " " + _("The held change could not be made: %(error)s") % {"error": approval.apply_error}
    else:
        by = _user(event.payload.get("decided_by_id"))
        title = _("Rejected: %(record)s") % values
        body = _("%(flow)s was rejected by %(who)s: %(comment)s") % {
            **values,
            "who": by or _("System"),
            "comment": event.payload.get("comment") or "",
        }
    notify(
        approval.submitter,
        kind="approval_result",
        title=title,
        body=body,
        url=_record_url(approval),
        dedupe_key=f"approval:{approval.pk}:result",
    )
