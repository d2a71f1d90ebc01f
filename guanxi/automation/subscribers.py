"""The automation engine listens to the domain events that can trigger rules (run in the worker, see
core/events.py). It is a batch subscriber: a chunk of events costs one query for the rules and one
for the records. Events of an object no enabled rule is about cost one small query per event name
and batch, and no delivery row (`when_name`)."""

from guanxi.automation.actions.engine import EVENT_TRIGGERS, handle_events, has_rules_for
from guanxi.core.events import subscribe

subscribe(*EVENT_TRIGGERS, name="automation.rules", when_name=has_rules_for, batch=True)(handle_events)
