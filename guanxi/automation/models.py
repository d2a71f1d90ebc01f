"""Automation rules (trigger -> conditions -> actions), their versions and the run log.

A rule is data: `trigger`, `conditions` and `actions` are JSON documents validated by
`guanxi.automation.rules.clean_rule` (the only way in), so a rule naming an unknown field, an
operator that does not fit the field, an unknown template variable or a non-http(s) URL is refused
before anything is saved. Every saved change writes a `RuleVersion` (the full definition), and each
`RuleRun` names the version that ran.

Exactly once: a `RuleRun` is unique on (rule, object type, object id, occurrence). The occurrence
says which happening fired it (an event id, "2026-12-03" for a daily relative-time rule, a schedule
slot, a manual request), and the run row is written in the same transaction as the actions'
effects: a crash before commit loses nothing (the event or the sweep comes again), a crash after
commit cannot fire twice (the insert of the second run fails on the unique key).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TriggerType(models.TextChoices):
    CREATED = "created", _("Record created")
    UPDATED = "updated", _("Record updated")
    FIELD_CHANGED = "field_changed", _("A field changed")
    STAGE_CHANGED = "stage_changed", _("Deal stage changed")
    DELETED = "deleted", _("Record deleted")
    RELATIVE_TIME = "relative_time", _("Relative time on a date")
    SCHEDULE = "schedule", _("On a schedule")
    WEBHOOK = "webhook", _("Inbound webhook received")
    MANUAL = "manual", _("Run by hand on selected records")


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")  # claimed by a sweep; its actions run in the worker next
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed, will retry")
    DEAD = "dead", _("Failed, gave up")
    WAITING = "waiting", _("Waiting (delay)")
    NOT_MATCHED = "not_matched", _("Conditions not met")
    CUT = "cut", _("Stopped by loop protection")


class Rule(models.Model):
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    object_type = models.CharField(_("object"), max_length=30)
    trigger = models.JSONField(_("trigger"), default=dict)
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    actions = models.JSONField(_("actions"), default=list)
    enabled = models.BooleanField(_("enabled"), default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="+"
    )
    template_key = models.CharField(max_length=50, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["enabled", "object_type"], name="automation_rule_enabled_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def trigger_type(self) -> str:
        return str((self.trigger or {}).get("type") or "")


class RuleVersion(models.Model):
    """The full definition of a rule as saved at one point (every edit keeps the previous one)."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "version"], name="automation_rule_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} v{self.version}"


class RuleRun(models.Model):
    """One firing of a rule on one record for one occurrence of its trigger (unique: at most once)."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    version = models.PositiveIntegerField()
    object_type = models.CharField(max_length=30)
    object_id = models.BigIntegerField()
    occurrence = models.CharField(max_length=80)
    event_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=RunStatus.choices)
    seen = models.JSONField(default=dict, blank=True)  # the values the conditions saw
    results = models.JSONField(default=list, blank=True)  # one entry per action performed
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=1)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    resume_at = models.DateTimeField(null=True, blank=True)  # a "wait" action: when to continue
    resume_step = models.PositiveIntegerField(default=0)  # ... and from which action
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "object_type", "object_id", "occurrence"], name="automation_run_once"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="automation_run_retry_idx"),
            models.Index(fields=["status", "resume_at"], name="automation_run_resume_idx"),
            models.Index(fields=["rule", "-created_at"], name="automation_run_rule_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}:{self.object_type}:{self.object_id}:{self.occurrence}"
