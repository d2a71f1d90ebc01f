"""The duplicate check (查重) before a customer is created or gets new identifiers, under the
configured duplicate policy (warn, block, merge)."""

from __future__ import annotations

from typing import Any

from guanxi.core import settings_store
from guanxi.customers import identity
from guanxi.customers.models import DuplicatePolicy


def duplicate_policy() -> str:
    return settings_store.get("customers.duplicate_policy")


def check_duplicates(
    cleaned: dict[str, Any], *, actor, kind: str, confirm: bool, exclude_id: int | None = None, **context
) -> list[identity.DuplicateMatch]:
    """Raise DuplicateFound unless the matches may be accepted; returns the matches otherwise.

    Exact identifier matches under the "block" policy can never be confirmed; anything else can be
    confirmed by the user (warn). The "merge" policy is handled by the caller (ingest_customer).
    """
    matches = identity.find_duplicates(cleaned, kind=kind, actor=actor, exclude_id=exclude_id, **context)
    if not matches:
        return []
    policy = duplicate_policy()
    blocking = policy == DuplicatePolicy.BLOCK and any(m.exact for m in matches)
    if blocking or not confirm:
        raise identity.DuplicateFound(matches, blocking=blocking, policy=policy)
    return matches
