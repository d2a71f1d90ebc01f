"""The automation engine listens to the domain events that can trigger rules (run in the worker, one
delivery per event, see core/events.py)."""

from guanxi.automation.actions.engine import EVENT_TRIGGERS, handle_event
from guanxi.core.events import subscribe

subscribe(*EVENT_TRIGGERS, name="automation.rules")(handle_event)
