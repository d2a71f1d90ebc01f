"""Events of the outgoing webhooks app: names and payload fields (the catalogue, see core/events.py).

Deliveries themselves emit no event: a call to an endpoint is a side effect, not a domain change,
and an event per call would let an endpoint subscribed to it feed itself.
"""

from django.db import models

from guanxi.core.events import declare


class WebhookEvent(models.TextChoices):
    ENDPOINT_CREATED = "webhook.endpoint_created"
    ENDPOINT_UPDATED = "webhook.endpoint_updated"
    ENDPOINT_DELETED = "webhook.endpoint_deleted"
    ENDPOINT_ENABLED = "webhook.endpoint_enabled"
    ENDPOINT_DISABLED = "webhook.endpoint_disabled"
    SECRET_ROTATED = "webhook.secret_rotated"
    DELIVERY_REDELIVERED = "webhook.delivery_redelivered"


declare(WebhookEvent.ENDPOINT_CREATED, "name")
declare(WebhookEvent.ENDPOINT_UPDATED, "changed")
declare(WebhookEvent.ENDPOINT_DELETED, "name")
declare(WebhookEvent.ENDPOINT_ENABLED, "name")
# automatic: disabled by the worker after `failures` consecutive failed attempts (admins are told).
declare(WebhookEvent.ENDPOINT_DISABLED, "name", "reason", "automatic", "failures")
declare(WebhookEvent.SECRET_ROTATED, "name")
declare(WebhookEvent.DELIVERY_REDELIVERED, "endpoint_id", "message_id")
