"""The identity pipeline every channel uses (import, webhooks, API upsert, auto-merge): resolve
incoming data to an existing customer by its strongest identifier and attach it there (unified
customer ID), or create a customer when nothing matches."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.events import emit
from guanxi.core.exceptions import require
from guanxi.core.models import AuditAction
from guanxi.core.permissions import Perm
from guanxi.customers import identity
from guanxi.customers.actions.cleaning import clean_customer_input
from guanxi.customers.actions.contacts import display_contact
from guanxi.customers.actions.rows import _create, _refresh_derived, _set_name_keys
from guanxi.customers.actions.tags import _apply_tags
from guanxi.customers.events import CustomerEvent
from guanxi.customers.models import ContactPoint, Customer
from guanxi.customers.snapshots import SNAPSHOT_FIELDS, snapshot
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject

# Fields that incoming data fills in (or overwrites) on an existing customer (`identity.fill_fields`).
ABSORBED_FIELDS = [f for f in SNAPSHOT_FIELDS if f not in ("owner_id", "custom_fields")]


class IngestOutcome(models.TextChoices):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def _absorb(
    customer: Customer,
    cleaned: dict[str, Any],
    *,
    actor,
    channel: str,
    overwrite: bool,
    registry: customfields.Registry | None = None,
) -> bool:
    """Add incoming data to an existing customer (unified customer ID): new contact points are added
    (never removed), tags are united, fields are filled (or overwritten when `overwrite`).
    Records provenance per changed field. Returns whether anything changed (audited + evented)."""
    before = snapshot(customer, registry)
    values = {f: getattr(customer, f) for f in ABSORBED_FIELDS}
    fields = identity.fill_fields(values, cleaned, ABSORBED_FIELDS, overwrite=overwrite)
    for field in fields:
        setattr(customer, field, values[field])
    if any(v not in (None, "", []) for v in (cleaned.get("custom_fields") or {}).values()):
        registry = registry or customfields.Registry(CustomObject.CUSTOMER)
        current = registry.normalize_stored(customer.custom_fields or {})
        merged = identity.merge_custom_values(current, cleaned, overwrite=overwrite)
        taken = {
            f"custom_fields.{k}": [_("Another record already has this value.")]
            for k, v in sorted(merged.items())
            if current.get(k) != v
            and (spec := registry.custom.get(k)) is not None
            and spec.custom.unique
            and registry.value_taken(spec, v, exclude_id=customer.pk)
        }
        if taken:
            raise ValidationError(taken)  # before anything is written
        if merged != (customer.custom_fields or {}):
            customer.custom_fields = merged
            fields.append("custom_fields")
    if fields:
        customer.field_sources = identity.stamp_sources(
            customer.field_sources, fields, channel=channel, at=timezone.now().isoformat()
        )
        if "name" in fields or "kind" in fields:
            _set_name_keys(customer)
            fields += ["name_pinyin", "name_initials"]
        customer.save(update_fields=[*fields, "field_sources", "updated_at"])
    if cleaned.get("tags"):
        names = sorted(set(cleaned["tags"]) | set(customer.tags.values_list("name", flat=True)))
        _apply_tags(customer, names)
    incoming = identity.incoming_contacts(cleaned, channel)
    held = set(customer.contact_points.values_list("kind", "normalized"))
    primary_kinds = set(customer.contact_points.filter(is_primary=True).values_list("kind", flat=True))
    for point in incoming:
        key = (point["kind"], point["normalized"])
        if key in held:
            continue
        held.add(key)
        ContactPoint.objects.create(
            customer=customer,
            kind=point["kind"],
            normalized=point["normalized"],
            value=display_contact(point["kind"], point["normalized"]),
            source=point.get("source") or channel,
            source_ref=point.get("source_ref", ""),
            verified=point.get("verified", False),
            is_primary=point["kind"] not in primary_kinds,
        )
        primary_kinds.add(point["kind"])
    b, a = audit.diff(before, snapshot(customer, registry))
    if not a:
        return False
    _refresh_derived(customer)
    audit.record(AuditAction.UPDATE, customer, actor=actor, before=b, after=a)
    emit(CustomerEvent.UPDATED, customer, actor=actor, payload={"changed": sorted(a), "channel": channel})
    return True


@transaction.atomic
def ingest_customer(
    data: dict[str, Any],
    *,
    actor,
    channel: str,
    external_ref: str = "",
    overwrite: bool = False,
    registry: customfields.Registry | None = None,
) -> tuple[Customer, str]:
    """The identity pipeline every channel uses (import, webhooks, API upsert, auto-merge).

    Normalises the input, resolves it to an existing customer by its strongest identifier
    (external id, WeChat unionid/openid, phone, email, WeChat ID) and attaches the data there;
    creates a customer only when nothing matches. Running it twice with the same data changes
    nothing the second time. Returns (customer, IngestOutcome). `registry`: a prebuilt customer
    field registry (an import builds one per run instead of one per row).
    """
    cleaned = clean_customer_input(data, actor=actor, partial=True, registry=registry)
    if external_ref:
        points = cleaned.get("contact_points") or []
        cleaned["contact_points"] = [*points, identity.external_id_point(channel, external_ref)]
    idents = identity.identifiers(cleaned)
    identity.lock_identifiers(idents)
    matches = identity.exact_matches(idents)
    if not matches:
        errors = {} if cleaned.get("name") else {"name": [_("This field is required.")]}
        registry = registry or customfields.Registry(CustomObject.CUSTOMER)
        values, custom_errors = registry.clean(cleaned.get("custom_fields") or {}, creating=True, actor=actor)
        errors.update(custom_errors)
        if errors:
            raise ValidationError(errors)
        cleaned["custom_fields"] = values
        require(actor, Perm.CUSTOMER_CREATE)
        cleaned.setdefault("source", channel)
        return _create(cleaned, actor=actor, default_source=channel, registry=registry), IngestOutcome.CREATED
    customer_id = matches[0][0]
    customer = Customer.objects.select_for_update(of=("self",)).get(pk=customer_id)
    if actor is not None and not Customer.objects.visible_to(actor).filter(pk=customer_id).exists():
        found = identity.find_duplicates(cleaned, kind=customer.kind, actor=actor)
        raise identity.DuplicateFound(
            [m for m in found if m.customer_id == customer_id] or found, blocking=True, policy="ingest"
        )
    require(actor, Perm.CUSTOMER_CHANGE)
    changed = _absorb(customer, cleaned, actor=actor, channel=channel, overwrite=overwrite, registry=registry)
    return customer, IngestOutcome.UPDATED if changed else IngestOutcome.UNCHANGED
