"""What the audit log and merge records store about a customer.

`snapshot()` is the audited state (before/after of every customer action, the import's bulk path
included) with sensitive values protected; `full_state()` is everything a merge may change, kept on
the `MergeRecord` so that `unmerge` can restore it. Reads only: no writes.
"""

from __future__ import annotations

from typing import Any

from guanxi.core import audit, sensitive
from guanxi.customers.models import SENSITIVE_CONTACTS, Customer
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject

SNAPSHOT_FIELDS = [
    "kind", "name", "company_id", "title", "gender", "birthday", "industry", "province", "city", "address",
    "source", "owner_id", "lifecycle_stage", "tier", "notes", "custom_fields",
]  # fmt: skip


def snapshot(customer: Customer, registry: customfields.Registry | None = None) -> dict[str, Any]:
    """The audited state of a customer; sensitive values (phones, phone-type custom fields) are
    protected ("138****5678#<keyed hash>", `protect_snapshot`): never in clear in an audit entry.
    `registry`: a prebuilt customer registry (an import passes its own: no query per row)."""
    data = {f: getattr(customer, f) for f in SNAPSHOT_FIELDS}
    if customer.pk:
        data["tags"] = sorted(customer.tags.values_list("name", flat=True))
        data["contact_points"] = [
            f"{k}:{v}" for k, v in customer.contact_points.values_list("kind", "normalized")
        ]
    else:
        data["tags"], data["contact_points"] = [], []
    if not data["custom_fields"]:
        sensitive_types = {}
    elif registry is not None:
        sensitive_types = registry.sensitive_types
    else:
        sensitive_types = customfields.sensitive_custom_types(CustomObject.CUSTOMER)
    return protect_snapshot(data, sensitive_types)


def protect_snapshot(data: dict[str, Any] | None, sensitive_types: dict[str, str]) -> dict[str, Any] | None:
    """A customer snapshot (or a diff of two) as audit entries store it: contact points of sensitive
    kinds and sensitive custom values (`sensitive_types`: key -> type) protected, contact points
    sorted. The import's bulk path writes its snapshots through this too, so both paths agree."""
    if not data:
        return data
    result = dict(data)
    if isinstance(result.get("contact_points"), list):
        points = []
        for item in result["contact_points"]:
            kind, _sep, value = str(item).partition(":")
            if kind in SENSITIVE_CONTACTS:
                item = f"{kind}:{sensitive.protect(SENSITIVE_CONTACTS[kind][0], value)}"
            points.append(item)
        result["contact_points"] = sorted(points)
    if "custom_fields" in result:
        result["custom_fields"] = customfields.protect_custom_values(result["custom_fields"], sensitive_types)
    return result


def full_state(customer: Customer) -> dict[str, Any]:
    """Everything a merge may change about a customer, JSON-ready (for MergeRecord and audit)."""
    fields = {
        f: getattr(customer, f) for f in [*SNAPSHOT_FIELDS, "field_sources", "deleted_at", "merged_into_id"]
    }
    return audit.json_value(
        {
            "fields": fields,
            "tags": sorted(customer.tags.values_list("pk", flat=True)),
            "contact_points": list(
                customer.contact_points.order_by("pk").values_list("pk", "kind", "normalized", "is_primary")
            ),
        }
    )
