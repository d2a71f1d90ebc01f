"""Outgoing webhooks: endpoints (subscriptions), deliveries (one message each) and their attempts.

Written only by `guanxi.webhooks.actions`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.crypto import EncryptedCharField

DEFAULT_MAX_CONSECUTIVE_FAILURES = 10
RESPONSE_EXCERPT_BYTES = 2048


class WebhookEndpoint(models.Model):
    """Where deliveries go: a URL, the event types it subscribes to and its signing secret."""

    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    description = models.TextField(_("description"), blank=True)
    # Declared event names (core.events catalogue); empty: used only by automation rules.
    event_types = models.JSONField(_("event types"), default=list, blank=True)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    # Standard Webhooks secret, whsec_<base64>, encrypted at rest (core/crypto.py).
    secret = EncryptedCharField(_("signing secret"), max_length=100)
    secret_rotated_at = models.DateTimeField(_("secret rotated at"), null=True, blank=True)
    max_consecutive_failures = models.PositiveIntegerField(
        _("disable after consecutive failures"), default=DEFAULT_MAX_CONSECUTIVE_FAILURES
    )
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(_("reason disabled"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILING = "failing", _("Failed, will retry")
    DEAD = "dead", _("Failed for good")


class DeliveryOrigin(models.TextChoices):
    SUBSCRIPTION = "subscription", _("Event subscription")
    ACTION = "action", _("Automation action")


# A delivery the worker may send (when due).
SENDABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILING)


class WebhookDelivery(models.Model):
    """One message to one endpoint: its body, its message id (webhook-id, kept by every retry and
    redelivery) and the outcome of its latest attempt."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(
        "core.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event_type = models.CharField(_("event type"), max_length=100)
    origin = models.CharField(
        _("origin"), max_length=20, choices=DeliveryOrigin.choices, default=DeliveryOrigin.SUBSCRIPTION
    )
    # Subscriptions: "event:<event id>"; automation: the caller's key. Unique per endpoint, so an
    # event processed twice (or an action retried) never creates a second message.
    idempotency_key = models.CharField(_("idempotency key"), max_length=200)
    message_id = models.CharField(_("message id"), max_length=64, unique=True)
    payload = models.JSONField(_("body"))
    status = models.CharField(
        _("status"), max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # Retries stop (dead) once this plus the retry window has passed; a redelivery restarts it.
    window_started_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(_("last response code"), null=True, blank=True)
    response_excerpt = models.TextField(_("response (first 2 KB)"), blank=True)
    last_error = models.TextField(_("error"), blank=True)
    last_duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    succeeded_at = models.DateTimeField(_("succeeded at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "idempotency_key"], name="webhook_delivery_once")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx"),
            models.Index(fields=["endpoint", "status", "id"], name="webhook_delivery_log_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.message_id})"


class WebhookAttempt(models.Model):
    """One HTTP call of a delivery: what the receiver answered (or why the call failed)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    status_code = models.PositiveIntegerField(_("response code"), null=True, blank=True)
    response_excerpt = models.TextField(_("response (first 2 KB)"), blank=True)
    error = models.TextField(_("error"), blank=True)
    succeeded = models.BooleanField(_("succeeded"), default=False)
    # When the failed attempt was followed by a retry: when that retry was due.
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}: {self.status_code or self.error[:40]}"
