"""The actions of outgoing webhooks: the only code that writes endpoints, deliveries and attempts.

Modules, higher first (each imports only lower ones): `endpoints` | `deliveries` → `sending` (the
worker task) → `attempts` (one HTTP attempt and its outcome) → `common`. This `__init__` re-exports
the actions other code calls, so callers write `from guanxi.webhooks import actions`.
"""

from guanxi.webhooks.actions.deliveries import (
    deliver_event,
    enqueue_delivery,
    is_subscribed,
    queue_due_deliveries,
    redeliver,
)
from guanxi.webhooks.actions.endpoints import (
    clean_endpoint_input,
    create_endpoint,
    delete_endpoint,
    disable_endpoint,
    enable_endpoint,
    rotate_secret,
    subscribable_events,
    update_endpoint,
)

__all__ = [
    "clean_endpoint_input",
    "create_endpoint",
    "delete_endpoint",
    "deliver_event",
    "disable_endpoint",
    "enable_endpoint",
    "enqueue_delivery",
    "is_subscribed",
    "queue_due_deliveries",
    "redeliver",
    "rotate_secret",
    "subscribable_events",
    "update_endpoint",
]
