"""Edit guards and transition gates: how an app above may hold a record still (e.g. while an approval
is pending) without the apps below knowing it exists.

`core` and the domain apps (customers, sales) import no app above them, so an approval app cannot be
called from their actions. Instead it registers, from its `AppConfig.ready()`:

- an **edit guard** `fn(obj, actor)`: raises `RecordLocked` when `obj` must not be edited now. The
  write actions of the lower apps call `check_editable(obj, actor)` before they change a record.
- a **transition gate** `fn(obj, actor, changes) -> str | None`: asked before a record moves (a deal
  to another stage, `changes = {"stage_id": 7}`); it may hold the move back (for example by
  submitting an approval request in the same transaction) and return the message the user sees.
  The action then keeps the record where it was and raises `TransitionHeld` after its transaction
  has committed, so the held move and whatever the gate wrote are kept.

Registering the same function again replaces it (`ready()` may run twice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

EditGuard = Callable[[Any, Any], None]
TransitionGate = Callable[[Any, Any, dict], "str | None"]

_guards: dict[str, EditGuard] = {}
_gates: dict[str, TransitionGate] = {}


class RecordLocked(ValidationError):
    """The record may not be edited now (a 422 in the API, a form error on the page): a message not
    tied to one field (NON_FIELD_ERRORS), so forms and the API show it like any validation error."""

    def __init__(self, message: str) -> None:
        super().__init__({NON_FIELD_ERRORS: [message]})


class TransitionHeld(Exception):  # noqa: N818  (a result, not an error)
    """The move was not made: a gate held it back (e.g. sent for approval). `message` says why."""

    def __init__(self, message: str, obj: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.obj = obj


def _key(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def register_edit_guard(fn: EditGuard) -> EditGuard:
    _guards[_key(fn)] = fn
    return fn


def register_transition_gate(fn: TransitionGate) -> TransitionGate:
    _gates[_key(fn)] = fn
    return fn


def check_editable(obj: Any, actor: Any) -> None:
    """Raise `RecordLocked` when a registered guard refuses edits of `obj` by `actor`."""
    for guard in list(_guards.values()):
        guard(obj, actor)


def hold_transition(obj: Any, actor: Any, changes: dict) -> str | None:
    """Ask the gates about a move; the first that holds it back answers with its message."""
    for gate in list(_gates.values()):
        message = gate(obj, actor, changes)
        if message:
            return message
    return None


def has_transition_gates() -> bool:
    return bool(_gates)
