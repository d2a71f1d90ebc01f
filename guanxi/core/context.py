"""Per-request / per-task context carried implicitly: request id and causation chain."""

from __future__ import annotations

import contextvars
import uuid
from contextlib import contextmanager

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("guanxi_request_id", default=None)
_causation_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "guanxi_causation_id", default=None
)

_causation_depth: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "guanxi_causation_depth", default=None
)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str:
    """The id of the request (or task) being served; one is made up outside any."""
    value = _request_id.get()
    if value is None:
        value = new_request_id()
        _request_id.set(value)
    return value


def current_causation_id() -> int | None:
    return _causation_id.get()


def current_causation_depth() -> int | None:
    """The causing event's depth when the context was given it (else the event bus reads it)."""
    return _causation_depth.get()


@contextmanager
def request_context(
    request_id: str | None = None, causation_id: int | None = None, causation_depth: int | None = None
):
    t1 = _request_id.set(request_id or new_request_id())
    t2 = _causation_id.set(causation_id)
    t3 = _causation_depth.set(causation_depth if causation_id is not None else None)
    try:
        yield
    finally:
        _request_id.reset(t1)
        _causation_id.reset(t2)
        _causation_depth.reset(t3)
