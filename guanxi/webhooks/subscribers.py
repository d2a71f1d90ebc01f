"""Event subscriptions: every event whose name an enabled endpoint subscribes to becomes one
delivery per such endpoint (runs in the worker, in its own transaction; see core/events.py). Events
no enabled endpoint subscribes to get no delivery row for it (`when`)."""

from __future__ import annotations

from guanxi.core.events import ALL, subscribe
from guanxi.core.models import Event
from guanxi.webhooks import actions


@subscribe(ALL, when_name=actions.is_subscribed)  # asked once per event name in a batch
def deliver_to_subscribed_endpoints(event: Event) -> None:
    actions.deliver_event(event)
