"""Contact points: the normalised and displayed forms of a value, and writing a customer's points
from validated input (the list and the primary phone / email / WeChat ID shortcut fields)."""

from __future__ import annotations

from typing import Any

from guanxi import text as normalize
from guanxi.customers import identity
from guanxi.customers.models import ContactKind, ContactPoint, Customer

# Shortcut fields for the primary contact point of a kind (used by forms and the API).
PRIMARY_CONTACT_FIELDS = identity.PRIMARY_CONTACT_FIELDS


def normalize_contact(kind: str, value: str) -> str:
    """Normalized form of a contact value, or NormalizationError."""
    if kind == ContactKind.PHONE:
        return normalize.normalize_phone(value)
    if kind == ContactKind.EMAIL:
        return normalize.normalize_email(value)
    if kind in (ContactKind.WECHAT_OPENID, ContactKind.WECHAT_UNIONID, ContactKind.WECHAT_ID):
        return normalize.normalize_wechat_id(value)
    return normalize.clean_text(value, max_length=300)


def display_contact(kind: str, normalized: str) -> str:
    return normalize.format_phone_display(normalized) if kind == ContactKind.PHONE else normalized


def _apply_contacts(customer: Customer, cleaned: dict[str, Any], *, default_source: str) -> None:
    if "contact_points" in cleaned:
        wanted = {(p["kind"], p["normalized"]): p for p in cleaned["contact_points"]}
        current = {(c.kind, c.normalized): c for c in customer.contact_points.all()}
        for key, point in current.items():
            if key not in wanted:
                point.delete()
        seen_kinds = {c.kind for c in current.values() if (c.kind, c.normalized) in wanted and c.is_primary}
        for key, spec in wanted.items():
            if key in current:
                continue
            ContactPoint.objects.create(
                customer=customer,
                kind=spec["kind"],
                normalized=spec["normalized"],
                value=display_contact(spec["kind"], spec["normalized"]),
                source=spec["source"],
                source_ref=spec["source_ref"],
                verified=spec["verified"],
                is_primary=spec["kind"] not in seen_kinds,
            )
            seen_kinds.add(spec["kind"])
    for field, kind in PRIMARY_CONTACT_FIELDS.items():
        if field not in cleaned:
            continue
        normalized = cleaned[field]
        primary = customer.contact_points.filter(kind=kind, is_primary=True).first()
        if primary and primary.normalized == normalized:
            continue
        if not normalized:
            if primary:
                primary.delete()
            continue
        same = customer.contact_points.filter(kind=kind, normalized=normalized).first()
        if primary:
            primary.delete()
        if same:
            same.is_primary = True
            same.save(update_fields=["is_primary"])
        else:
            ContactPoint.objects.create(
                customer=customer,
                kind=kind,
                normalized=normalized,
                value=display_contact(kind, normalized),
                source=default_source,
                is_primary=True,
            )
