"""The in-memory state of a customer while the bulk path simulates a chunk."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from guanxi.customers import actions

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Cust:
    """A customer as the bulk path sees it: its current state and what is still to be written.

    `key` is the customer's id, or a placeholder above every id until a new customer is flushed.
    """

    key: int
    fields: dict[str, Any]  # SNAPSHOT_FIELDS + name keys, field_sources, completeness
    tags: set[str]
    held: set[tuple[str, str]]  # (kind, normalized) of every contact point
    primary_kinds: set[str]
    is_new: bool
    # kind, normalized, value (display), source, source_ref, verified, is_primary
    new_contacts: list[tuple[str, str, str, str, str, bool, bool]] = field(default_factory=list)
    new_tags: list[str] = field(default_factory=list)
    touched: bool = False  # fields changed: updated_at moves (as customer.save does)
    dirty: bool = False  # an existing customer to UPDATE at the next flush
    id: int | None = None

    def snapshot(self) -> dict[str, Any]:
        """actions.snapshot() of this state."""
        data = {f: self.fields[f] for f in actions.SNAPSHOT_FIELDS}
        data["tags"] = sorted(self.tags)
        data["contact_points"] = sorted(f"{k}:{v}" for k, v in self.held)
        return data


_PENDING_BASE = 1 << 62  # keys of not-yet-inserted customers sort after every real id
_STATE_FIELDS = [*actions.SNAPSHOT_FIELDS, "name_pinyin", "name_initials", "field_sources", "completeness"]
_UPDATE_COLUMNS = ["name", "name_pinyin", "name_initials", "title", "gender", "birthday", "industry",
                   "province", "city", "address", "notes", "custom_fields", "field_sources",
                   "completeness"]  # fmt: skip
