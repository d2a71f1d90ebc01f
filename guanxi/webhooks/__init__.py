"""Outgoing webhooks: endpoints subscribed to event types, signed deliveries (Standard Webhooks),
retries with back-off, the delivery log, manual redelivery, automatic disabling (docs/webhooks.md)."""
