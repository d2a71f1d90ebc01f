"""Notification centre: in-app notifications, per-user channel preferences, robot endpoints and a
delivery log with retries for every outgoing message (email, SMS, WeCom, DingTalk)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.crypto import EncryptedCharField, EncryptedURLField


class ChannelKind(models.TextChoices):
    IN_APP = "in_app", _("In-app")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WECOM = "wecom", _("WeCom robot")
    DINGTALK = "dingtalk", _("DingTalk robot")


class Notification(models.Model):
    """An in-app notification; `dedupe_key` makes sweeps idempotent (one notice per fact)."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(_("type"), max_length=50)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("message"), blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notification_user_idx"),
            models.Index(fields=["recipient"], name="notification_unread_idx", condition=Q(read_at=None)),
        ]

    def __str__(self) -> str:
        return self.title


class ChannelPreference(models.Model):
    """Which channels a user wants, whether as a daily digest, and quiet hours (提醒疲劳)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channel_preferences"
    )
    channel = models.CharField(max_length=20, choices=ChannelKind.choices)
    enabled = models.BooleanField(default=True)
    digest = models.BooleanField(_("daily digest instead of each message"), default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "channel"], name="channel_preference_unique")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.channel}"


class RobotEndpoint(models.Model):
    """A WeCom or DingTalk group robot (webhook URL), optionally for one department."""

    name = models.CharField(_("name"), max_length=100)
    channel = models.CharField(
        _("type"), max_length=20, choices=[c for c in ChannelKind.choices if c[0] in ("wecom", "dingtalk")]
    )
    # Both carry credentials (the robot's key / access token, the signing secret): encrypted at rest.
    url = EncryptedURLField(_("webhook URL"), max_length=500)
    secret = EncryptedCharField(_("signing secret (DingTalk)"), max_length=200, blank=True)
    department = models.ForeignKey("core.Department", null=True, blank=True, on_delete=models.SET_NULL)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    RETRYING = "retrying", _("Retrying")
    FAILED = "failed", _("Failed")
    SUPPRESSED = "suppressed", _("Held for digest / quiet hours")


class Delivery(models.Model):
    """One message to one channel target; every attempt is counted and its last error kept."""

    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    channel = models.CharField(max_length=20, choices=ChannelKind.choices)
    target = models.CharField(max_length=500)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due_idx",
                condition=Q(status__in=["pending", "retrying"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.target}"
