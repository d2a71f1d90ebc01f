"""Follow-up engine: follow-ups, tasks, cadences, lead assignment, public pools, ownership history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.scopes import ScopedQuerySet
from guanxi.customers.models import (
    Customer,
    OwnershipReason,  # the history's reasons belong to ownership
)


class FollowUpKind(models.TextChoices):
    CALL = "call", _("Call")
    VISIT = "visit", _("Visit")
    WECHAT = "wechat", _("WeChat")
    EMAIL = "email", _("Email")
    MEETING = "meeting", _("Meeting")
    OTHER = "other", _("Other")


class FollowUpOutcome(models.TextChoices):
    REACHED = "reached", _("Reached")
    NOT_REACHED = "not_reached", _("Not reached")
    INTERESTED = "interested", _("Interested")
    NOT_INTERESTED = "not_interested", _("Not interested")
    CUSTOMER_REPLIED = "replied", _("Customer replied")
    OTHER = "other", _("Other")


class FollowUpQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(customer__in=Customer.objects.visible_to(user))


class FollowUp(models.Model):
    """A follow-up record (跟进记录): what happened, the outcome, and the next step."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="follow_ups")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # A value of the admin-editable picklist "follow-up-type" (seeded with FollowUpKind's values).
    kind = models.CharField(_("type"), max_length=50)
    content = models.TextField(_("content"), max_length=5000)
    outcome = models.CharField(_("outcome"), max_length=20, choices=FollowUpOutcome.choices, blank=True)
    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    next_follow_up_at = models.DateTimeField(_("next follow-up"), null=True, blank=True)
    occurred_at = models.DateTimeField(_("time"), default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)

    objects = FollowUpQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["customer", "-occurred_at"], name="followup_customer_idx")]
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")

    def __str__(self) -> str:
        return f"{self.kind} {self.occurred_at:%Y-%m-%d}"


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class TaskPriority(models.IntegerChoices):
    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


class TaskSource(models.TextChoices):
    MANUAL = "manual", _("Manual")
    FOLLOW_UP = "follow_up", _("Next step of a follow-up")
    CADENCE = "cadence", _("Cadence")
    ASSIGNMENT = "assignment", _("Lead assignment")
    HANDOVER = "handover", _("Handover")
    RULE = "rule", _("Automation rule")


class TaskQuerySet(ScopedQuerySet):
    owner_field = "owner"

    def open(self):
        return self.filter(status=TaskStatus.OPEN)


class Task(models.Model):
    """A to-do with exactly one responsible user and a due time."""

    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True, max_length=5000)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("responsible"),
        on_delete=models.PROTECT,
        related_name="tasks",
    )
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="tasks",
    )  # fmt: skip
    due_at = models.DateTimeField(_("due"))
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=TaskPriority.choices, default=TaskPriority.NORMAL
    )
    status = models.CharField(_("status"), max_length=20, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    source = models.CharField(
        _("source"), max_length=20, choices=TaskSource.choices, default=TaskSource.MANUAL
    )
    enrollment = models.ForeignKey(
        "engagement.CadenceEnrollment", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    step_position = models.PositiveSmallIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Overdue handling: the owner is told once, the manager after the escalation delay.
    overdue_notified_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "-priority", "id"]
        indexes = [
            models.Index(fields=["owner", "status", "due_at"], name="task_owner_idx"),
            models.Index(fields=["due_at", "id"], name="task_open_due_idx", condition=Q(status="open")),
        ]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        return self.status == TaskStatus.OPEN and self.due_at < timezone.now()


class Cadence(models.Model):
    """A follow-up standard (跟进规范): a sequence of steps for customers of a tier / lifecycle stage."""

    name = models.CharField(_("name"), max_length=100)
    tier = models.CharField(_("tier"), max_length=2, blank=True, help_text=_("Empty: any tier."))
    lifecycle_stage = models.CharField(_("lifecycle stage"), max_length=20, blank=True)
    repeat_every_days = models.PositiveSmallIntegerField(
        _("then repeat every (days)"),
        null=True,
        blank=True,
        help_text=_("Keep-in-touch rhythm after the last step."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("cadence")
        verbose_name_plural = _("cadences")

    def __str__(self) -> str:
        return self.name


class CadenceStep(models.Model):
    cadence = models.ForeignKey(Cadence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    offset_hours = models.PositiveIntegerField(_("due after (hours from start)"))
    kind = models.CharField(_("type"), max_length=20, choices=FollowUpKind.choices)
    title = models.CharField(_("title"), max_length=200)

    class Meta:
        ordering = ["cadence", "position"]
        constraints = [models.UniqueConstraint(fields=["cadence", "position"], name="cadence_step_unique")]

    def __str__(self) -> str:
        return self.title


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    FINISHED = "finished", _("Finished")
    STOPPED = "stopped", _("Stopped")


class CadenceEnrollment(models.Model):
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="cadences")
    cadence = models.ForeignKey(Cadence, on_delete=models.PROTECT, related_name="enrollments")
    status = models.CharField(
        max_length=20, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    started_at = models.DateTimeField(default=timezone.now)
    next_position = models.PositiveSmallIntegerField(default=0)
    paused_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "cadence"],
                condition=Q(status__in=["active", "paused"]),
                name="one_running_enrollment",
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.cadence_id}"


class AssignmentStrategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round robin")
    LEAST_LOADED = "least_loaded", _("Least loaded")
    WEIGHTED = "weighted", _("Weighted by recent conversion")


class AssignmentRule(models.Model):
    """Lead assignment (线索分配): which leads (by source, region, industry, tier) go to which reps, how."""

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    conditions = models.JSONField(
        _("conditions"), default=dict, blank=True,
        help_text=_('e.g. {"source": ["website"], "province": ["浙江"], "industry": [], "tier": []}'),
    )  # fmt: skip
    strategy = models.CharField(
        _("strategy"),
        max_length=20,
        choices=AssignmentStrategy.choices,
        default=AssignmentStrategy.ROUND_ROBIN,
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, verbose_name=_("reps"), related_name="+")
    first_response_minutes = models.PositiveIntegerField(_("first response target (minutes)"), default=120)
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("assignment rule")
        verbose_name_plural = _("assignment rules")

    def __str__(self) -> str:
        return self.name


class Assignment(models.Model):
    """One lead handed to one rep, with its first-response clock."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="assignments")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    rule = models.ForeignKey(AssignmentRule, null=True, blank=True, on_delete=models.SET_NULL)
    assigned_at = models.DateTimeField(default=timezone.now)
    first_response_due_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    breach_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-assigned_at"]
        indexes = [
            models.Index(
                fields=["first_response_due_at"],
                name="assignment_waiting_idx",
                condition=Q(first_response_at=None),
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}->{self.owner_id}"


class Pool(models.Model):
    """A public pool (公海) with its member departments and reclaim rules."""

    name = models.CharField(_("name"), max_length=100)
    departments = models.ManyToManyField("core.Department", verbose_name=_("member departments"), blank=True)
    no_follow_up_days = models.PositiveSmallIntegerField(
        _("reclaim after days without follow-up"), default=30
    )
    no_deal_days = models.PositiveSmallIntegerField(
        _("reclaim after days without a deal"), null=True, blank=True
    )
    days_by_tier = models.JSONField(
        _("days without follow-up per tier"), default=dict, blank=True, help_text=_('e.g. {"A": 60, "C": 15}')
    )
    warn_days = models.PositiveSmallIntegerField(_("warn days before reclaim"), default=3)
    claim_limit = models.PositiveIntegerField(_("claim limit per rep"), default=50)
    cooldown_days = models.PositiveSmallIntegerField(
        _("days before a rep may reclaim their own lost customer"), default=7
    )
    is_default = models.BooleanField(_("default pool"), default=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("public pool")
        verbose_name_plural = _("public pools")

    def __str__(self) -> str:
        return self.name


class OwnershipChange(models.Model):
    """Who owned a customer when: the basis for cooldowns, claim limits and handover summaries.

    Written only through `customers.ownership.change_owner` (by the history writer engagement
    registers there, see engagement/ownership.py): one row per customer that changed hands."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="ownership_changes"
    )
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pool = models.ForeignKey(Pool, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=20, choices=OwnershipReason.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-at"], name="ownership_customer_idx"),
            models.Index(fields=["to_user", "reason", "at"], name="ownership_claims_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_user_id}->{self.to_user_id}"


class Handover(models.Model):
    """An employee-departure handover (离职交接): everything of one rep moved to another at once."""

    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    summary = models.JSONField(default=dict)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.from_user_id}->{self.to_user_id}"
