"""Approvals (审批): flows as data, requests, per-approver decisions and delegations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class StepMode(models.TextChoices):
    ALL = "all", _("All must approve")
    ANY = "any", _("Any one approves")


class TimeoutAction(models.TextChoices):
    NONE = "", _("Nothing")
    ESCALATE = "escalate", _("Escalate to the next manager up")
    REJECT = "reject", _("Reject automatically")


class FlowTrigger(models.TextChoices):
    MANUAL = "manual", _("Submitted by hand or by an automation rule")
    STAGE_CHANGE = "stage_change", _("Before the record moves to another stage")


class ApproverKind(models.TextChoices):
    USER = "user", _("A user")
    ROLE = "role", _("Anyone with a role")
    MANAGER = "manager", _("The submitter's manager N levels up")
    DEPARTMENT_HEAD = "department_head", _("The head of the submitter's department")


class ApprovalFlow(models.Model):
    """Which records need approval (a condition in the field registry's language) and by whom (steps)."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    object_type = models.CharField(_("object"), max_length=30)
    trigger = models.CharField(
        _("submitted"), max_length=20, choices=FlowTrigger.choices, default=FlowTrigger.MANUAL
    )
    # [{"field": "discount_percent", "op": "gt", "value": 15}] (Registry(object_type).clean_filters)
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    # Set on shipped flows ("example.deal_discount") so installing them again finds them.
    key = models.CharField(max_length=50, null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["object_type", "position", "id"]
        verbose_name = _("approval flow")
        verbose_name_plural = _("approval flows")

    def __str__(self) -> str:
        return self.name


class ApprovalStep(models.Model):
    """One step of a flow: its approvers (specs resolved when the step starts), all / any, timeout."""

    flow = models.ForeignKey(ApprovalFlow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(_("position"), default=0)
    name = models.CharField(_("name"), max_length=100, blank=True)
    mode = models.CharField(_("mode"), max_length=5, choices=StepMode.choices, default=StepMode.ALL)
    # [{"kind": "user", "user_id": 3}, {"kind": "role", "role": "finance"},
    #  {"kind": "manager", "levels": 1}, {"kind": "department_head"}]
    approvers = models.JSONField(_("approvers"), default=list)
    timeout_hours = models.PositiveIntegerField(_("timeout (hours)"), null=True, blank=True)
    timeout_action = models.CharField(
        _("on timeout"), max_length=10, choices=TimeoutAction.choices, default=TimeoutAction.NONE, blank=True
    )

    class Meta:
        ordering = ["flow", "position", "id"]
        verbose_name = _("approval step")
        verbose_name_plural = _("approval steps")

    def __str__(self) -> str:
        return self.name or f"{self.flow} #{self.position + 1}"


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class ApprovalRequest(models.Model):
    """One record sent through a flow. While pending, the record is locked for edits."""

    object_type = models.CharField(_("object"), max_length=30)
    object_id = models.BigIntegerField()
    object_repr = models.CharField(_("record"), max_length=200)
    flow = models.ForeignKey(ApprovalFlow, on_delete=models.PROTECT, related_name="requests")
    submitter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approval_requests",
        verbose_name=_("submitted by"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    reason = models.TextField(_("reason"), blank=True)
    # The values the flow's condition saw when the request was made.
    snapshot = models.JSONField(_("values"), default=dict, blank=True)
    # What happens on approval (a held stage move: {"stage_id": 7}).
    pending_change = models.JSONField(default=dict, blank=True)
    apply_error = models.TextField(blank=True)
    current_step = models.ForeignKey(
        ApprovalStep, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_due_at = models.DateTimeField(null=True, blank=True)
    # The current step's timeout was handled (escalated once, or rejected).
    step_timed_out_at = models.DateTimeField(null=True, blank=True)
    final_comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(_("submitted"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="approval_request_object_idx"),
            models.Index(
                fields=["step_due_at"],
                name="approval_request_due_idx",
                condition=models.Q(status="pending", step_timed_out_at__isnull=True),
            ),
        ]
        constraints = [
            # At most one pending request per record.
            models.UniqueConstraint(
                fields=["object_type", "object_id"],
                condition=models.Q(status="pending"),
                name="approval_request_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.flow} · {self.object_repr}"


class Decision(models.TextChoices):
    PENDING = "", _("Waiting")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    SKIPPED = "skipped", _("Not needed")


class ApprovalDecision(models.Model):
    """One approver of one step (a slot: one approver spec; a role slot holds every member) and what
    they decided. Escalation adds the next manager up to a slot that is still waiting."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    step = models.ForeignKey(ApprovalStep, on_delete=models.PROTECT, related_name="+")
    slot = models.PositiveSmallIntegerField(default=0)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="approval_decisions"
    )
    escalated = models.BooleanField(_("escalated"), default=False)
    decision = models.CharField(
        _("decision"), max_length=10, choices=Decision.choices, default=Decision.PENDING, blank=True
    )
    comment = models.TextField(_("comment"), blank=True)
    decided_at = models.DateTimeField(_("time"), null=True, blank=True)
    # The delegate who decided for the approver (None: the approver themself).
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=10, blank=True)  # page / api / link
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["request", "step__position", "slot", "id"]
        verbose_name = _("approval decision")
        verbose_name_plural = _("approval decisions")
        constraints = [
            models.UniqueConstraint(
                fields=["request", "step", "slot", "approver"], name="approval_decision_unique"
            )
        ]
        indexes = [models.Index(fields=["approver", "decision"], name="approval_decision_todo_idx")]

    def __str__(self) -> str:
        return f"{self.request_id}/{self.step_id}: {self.approver} {self.decision}"

    @property
    def delegated_from(self):
        """The approver a delegate decided for (None when the approver decided themself)."""
        return self.approver if self.decided_by_id and self.decided_by_id != self.approver_id else None


class Delegation(models.Model):
    """While `user` is away (from / to, inclusive dates), `delegate` may decide their approvals."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations")
    delegate = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegated_to_me"
    )
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_on", "-id"]
        verbose_name = _("delegation")
        verbose_name_plural = _("delegations")

    def __str__(self) -> str:
        return f"{self.user} → {self.delegate} ({self.starts_on}–{self.ends_on})"
