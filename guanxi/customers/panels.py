"""The customer 360 page's panel registry: apps add their tabs, cards and timeline entries.

`customers` sits below `engagement`, `sales` and the other apps in the layering, so the customer page
cannot import them. Each app registers what it shows on the page from its `AppConfig.ready()`:

- `register_tab(key, label, template, context_fn, order, permission)`: a tab under the page's tab bar
  (loaded in place by htmx from `customers:tab`, or directly with `?tab=<key>`);
- `register_card(key, template, context_fn, slot, order, permission)`: a block always on the page, in
  one of three slots: `actions` (buttons in the page header), `side` (the narrow left column, under
  the profile) or `main` (the wide column, above the tabs); or, with the slot `list_bulk`, in the
  customer list's bar of actions on the selected customers (its `context_fn` gets `customer=None`;
  its submit buttons post the form `bulk-transfer` with `customer_ids` and `next`);
- `register_timeline_source(key, template, entries_fn, order, permission)`: entries of the
  timeline tab; `entries_fn(request, customer, limit)` returns up to `limit` `(when, obj)` pairs and
  `template` renders one entry (it sees `item`, with `item.at` and `item.obj`).

`context_fn(request, customer) -> dict` is called only when the panel is shown; its dict is what the
panel's template sees on top of the page's context (`customer`, `user`, `request`, `csrf_token`...).
`permission` (a `Perm` code) hides the panel from users without it. Panels show in ascending
`order`; registering a key again replaces the panel (so `ready()` may run twice).

Rendering: `shown_tabs`, `tab_for`, `shown_cards` and `timeline` select what a request sees; the
`{% render_panel panel %}` tag (`customers_panels` library) renders a `Shown` panel.

This module imports nothing from the apps above `customers`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.utils.translation import gettext_lazy

from guanxi.core import audit
from guanxi.core.permissions import Perm
from guanxi.customers import queries

ContextFn = Callable[[Any, Any], dict[str, Any]]
EntriesFn = Callable[[Any, Any, int], Iterable[tuple[dt.datetime, Any]]]

TIMELINE_LENGTH = 50  # entries on the timeline tab (and per source)


class Slot(StrEnum):
    ACTIONS = "actions"  # the page header, next to Edit and Delete
    SIDE = "side"  # the left column, under the profile and contact points
    MAIN = "main"  # the wide column, above the tabs
    LIST_BULK = "list_bulk"  # the customer list's bar of actions on the selected customers (no customer)


@dataclass(frozen=True)
class Tab:
    key: str
    label: Any  # a (lazy) translatable string
    template: str
    context_fn: ContextFn | None = None
    order: int = 100
    permission: str | None = None


@dataclass(frozen=True)
class Card:
    key: str
    template: str
    context_fn: ContextFn | None = None
    slot: Slot = Slot.MAIN
    order: int = 100
    permission: str | None = None


@dataclass(frozen=True)
class TimelineSource:
    key: str
    template: str
    entries_fn: EntriesFn
    order: int = 100
    permission: str | None = None


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str  # the source's key
    obj: Any
    template: str


@dataclass
class Shown:
    """A panel as one request sees it: its template and the context its function returned."""

    key: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    label: Any = ""


@dataclass
class Registry:
    tabs: dict[str, Tab] = field(default_factory=dict)
    cards: dict[str, Card] = field(default_factory=dict)
    timeline_sources: dict[str, TimelineSource] = field(default_factory=dict)

    def copy(self) -> Registry:
        return Registry(dict(self.tabs), dict(self.cards), dict(self.timeline_sources))


registry = Registry()


def _key(key: str) -> str:
    if not key or not key.replace("_", "").replace("-", "").isalnum() or not key.isascii():
        raise ValueError(f"panel key {key!r}: use letters, digits, - and _ (it goes into URLs and ids)")
    return key


def register_tab(
    key: str,
    label: Any,
    template: str,
    context_fn: ContextFn | None = None,
    order: int = 100,
    permission: str | None = None,
) -> Tab:
    tab = Tab(_key(key), label, template, context_fn, order, permission)
    registry.tabs[key] = tab
    return tab


def register_card(
    key: str,
    template: str,
    context_fn: ContextFn | None = None,
    slot: Slot | str = Slot.MAIN,
    order: int = 100,
    permission: str | None = None,
) -> Card:
    card = Card(_key(key), template, context_fn, Slot(slot), order, permission)
    registry.cards[key] = card
    return card


def register_timeline_source(
    key: str,
    template: str,
    entries_fn: EntriesFn,
    order: int = 100,
    permission: str | None = None,
) -> TimelineSource:
    source = TimelineSource(_key(key), template, entries_fn, order, permission)
    registry.timeline_sources[key] = source
    return source


def _allowed(user, permission: str | None) -> bool:
    return permission is None or user.has_perm_code(permission)


def _sorted(panels: Iterable) -> list:
    return sorted(panels, key=lambda p: (p.order, p.key))


def shown_tabs(user) -> list[Tab]:
    """The tabs this user sees, in order (the first is the default)."""
    return [tab for tab in _sorted(registry.tabs.values()) if _allowed(user, tab.permission)]


def tab_for(request, customer, key: str) -> Shown | None:
    """The tab `key` with its context, or None if there is no such tab for this user."""
    tab = registry.tabs.get(key)
    if tab is None or not _allowed(request.user, tab.permission):
        return None
    context = tab.context_fn(request, customer) if tab.context_fn else {}
    return Shown(tab.key, tab.template, context, tab.label)


def shown_cards(request, customer, slots: Iterable[Slot] | None = None) -> dict[str, list[Shown]]:
    """Every slot's cards (or those of `slots`) for this request, in order, each with its context."""
    wanted = set(Slot) - {Slot.LIST_BULK} if slots is None else set(slots)
    cards: dict[str, list[Shown]] = {slot.value: [] for slot in Slot}
    for card in _sorted(registry.cards.values()):
        if card.slot in wanted and _allowed(request.user, card.permission):
            context = card.context_fn(request, customer) if card.context_fn else {}
            cards[card.slot.value].append(Shown(card.key, card.template, context))
    return cards


def timeline(request, customer, limit: int = TIMELINE_LENGTH) -> list[TimelineEntry]:
    """The newest `limit` entries of every source the user may see, newest first (ties: source order)."""
    entries: list[TimelineEntry] = []
    for source in _sorted(registry.timeline_sources.values()):
        if _allowed(request.user, source.permission):
            entries += [
                TimelineEntry(at, source.key, obj, source.template)
                for at, obj in source.entries_fn(request, customer, limit)
            ]
    return sorted(entries, key=lambda e: e.at, reverse=True)[:limit]


# --- the customers app's own panels (registered by CustomersConfig.ready) -----------------------


def _history(request, customer) -> list:
    return queries.present_history(audit.history_for(customer)[:TIMELINE_LENGTH], request.user, customer)


def _timeline_context(request, customer) -> dict[str, Any]:
    return {"timeline": timeline(request, customer)}


def _history_context(request, customer) -> dict[str, Any]:
    return {
        "history": _history(request, customer),
        "merges": queries.merge_history(customer),
        "can_merge": request.user.has_perm_code(Perm.CUSTOMER_MERGE),
    }


def _change_entries(request, customer, limit: int) -> list[tuple[dt.datetime, Any]]:
    return [(entry.created_at, entry) for entry in _history(request, customer)[:limit]]


def register() -> None:
    register_tab(
        "timeline", gettext_lazy("Timeline"), "customers/_tab_timeline.html", _timeline_context, order=10
    )
    register_tab(
        "history", gettext_lazy("Change history"), "customers/_tab_history.html", _history_context, order=90
    )
    register_timeline_source("change", "customers/_timeline_change.html", _change_entries, order=90)
