"""The automation engine listens to the domain events that can trigger rules (run in the worker, one
delivery per event, see core/events.py). Events of an object no enabled rule is about cost one small
query and no delivery row (`when`)."""

from guanxi.automation.actions.engine import EVENT_TRIGGERS, handle_event, has_rules_for
from guanxi.core.events import subscribe

subscribe(*EVENT_TRIGGERS, name="automation.rules", when=has_rules_for)(handle_event)
