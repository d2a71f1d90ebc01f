"""Panels other apps add to a record's page (the deal page), by object type.

The page's app cannot import the apps above it; they register a panel from their `AppConfig.ready()`:
`register(object_type, key, template, context_fn, order)`. `context_fn(request, obj) -> dict | None`
returns what the template sees on top of the page's context (None: the panel is not shown).
The page calls `shown(request, object_type, obj)` and includes each panel's template with its context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ContextFn = Callable[[Any, Any], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Panel:
    key: str
    template: str
    context_fn: ContextFn
    order: int = 100


@dataclass(frozen=True)
class ShownPanel:
    key: str
    template: str
    context: dict[str, Any]


_panels: dict[str, dict[str, Panel]] = {}


def register(object_type: str, key: str, template: str, context_fn: ContextFn, order: int = 100) -> None:
    _panels.setdefault(str(object_type), {})[key] = Panel(key, template, context_fn, order)


def shown(request, object_type: str, obj: Any) -> list[ShownPanel]:
    result = []
    for panel in sorted(_panels.get(str(object_type), {}).values(), key=lambda p: (p.order, p.key)):
        context = panel.context_fn(request, obj)
        if context is not None:
            result.append(ShownPanel(panel.key, panel.template, context))
    return result
