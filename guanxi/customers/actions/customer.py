"""Create, update, delete (to the recycle bin) and restore one customer."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from guanxi.core import audit, locks
from guanxi.core.events import emit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, User
from guanxi.core.permissions import Perm
from guanxi.customers import identity, ownership
from guanxi.customers.actions.cleaning import clean_customer_input
from guanxi.customers.actions.contacts import PRIMARY_CONTACT_FIELDS, _apply_contacts
from guanxi.customers.actions.duplicates import check_duplicates, duplicate_policy
from guanxi.customers.actions.ingest import ingest_customer
from guanxi.customers.actions.rows import (
    _company_for,
    _create,
    _refresh_derived,
    _set_name_keys,
    get_for_write,
)
from guanxi.customers.actions.tags import _apply_tags
from guanxi.customers.events import CustomerEvent
from guanxi.customers.models import Channel, Customer, CustomerKind, DuplicatePolicy
from guanxi.customers.snapshots import SNAPSHOT_FIELDS, snapshot


@transaction.atomic
def create_customer(
    data: dict[str, Any],
    *,
    actor,
    default_source: str = Channel.MANUAL,
    confirm_duplicate: bool = False,
) -> Customer:
    """Create a customer after the duplicate check (查重).

    Under the "merge" policy an exact identifier match attaches the data to the existing customer
    instead, which is returned (its `ingest_outcome` says so).
    """
    require(actor, Perm.CUSTOMER_CREATE)
    cleaned = clean_customer_input(data, actor=actor)
    kind = cleaned.get("kind") or CustomerKind.PERSON
    identity.lock_identifiers(identity.identifiers(cleaned))
    if duplicate_policy() == DuplicatePolicy.MERGE and identity.exact_matches(identity.identifiers(cleaned)):
        customer, outcome = ingest_customer(
            data, actor=actor, channel=cleaned.get("source") or default_source
        )
        customer.ingest_outcome = outcome
        return customer
    check_duplicates(cleaned, actor=actor, kind=kind, confirm=confirm_duplicate)
    return _create(cleaned, actor=actor, default_source=default_source)


@transaction.atomic
def update_customer(
    customer_id: int, data: dict[str, Any], *, actor, confirm_duplicate: bool = False
) -> Customer:
    require(actor, Perm.CUSTOMER_CHANGE)
    customer = get_for_write(customer_id, actor=actor)
    locks.check_editable(customer, actor)
    cleaned = clean_customer_input(data, actor=actor, instance=customer)
    changed_identity = {
        k: v for k, v in cleaned.items() if k in PRIMARY_CONTACT_FIELDS or k == "contact_points"
    }
    if changed_identity:
        # Only identifiers the customer does not hold yet can collide with someone else.
        check_duplicates(
            changed_identity,
            actor=actor,
            kind=customer.kind,
            confirm=confirm_duplicate,
            exclude_id=customer.pk,
        )
    new_owner_id = cleaned.pop("owner_id", customer.owner_id)
    if new_owner_id != customer.owner_id:
        # The one writer of ownership: history, audit entry and `customer.assigned` of their own; a
        # person taking a pool customer this way is a claim under the pool's rules.
        try:
            ownership.change_owner(
                [customer.pk],
                User.objects.get(pk=new_owner_id) if new_owner_id is not None else None,
                reason=ownership.OwnershipReason.CHANGED,
                actor=actor,
            )
        except ownership.OwnershipRefused as exc:
            raise ValidationError({"owner_id": [exc.message]}) from exc
        customer.refresh_from_db(fields=["owner", "owned_since", "pool"])
    company_name = cleaned.pop("company_name", None)
    if company_name:
        cleaned["company_id"] = _company_for(company_name, actor=actor, owner_id=customer.owner_id).pk
    before = snapshot(customer)
    fields = [k for k in cleaned if k in SNAPSHOT_FIELDS and getattr(customer, k) != cleaned[k]]
    for field in fields:
        setattr(customer, field, cleaned[field])
    if "name" in fields or "kind" in fields:
        _set_name_keys(customer)
        fields += ["name_pinyin", "name_initials"]
    if fields:
        customer.save(update_fields=[*fields, "updated_at"])
    if "tags" in cleaned:
        _apply_tags(customer, cleaned["tags"])
    _apply_contacts(customer, cleaned, default_source=Channel.MANUAL)
    b, a = audit.diff(before, snapshot(customer))
    if not a:
        return customer
    _refresh_derived(customer, check_stage=True)
    if not fields:
        Customer.objects.filter(pk=customer.pk).update(updated_at=timezone.now())
    audit.record(AuditAction.UPDATE, customer, actor=actor, before=b, after=a)
    emit(
        CustomerEvent.UPDATED, customer, actor=actor, payload={"changed": sorted(a), "before": b, "after": a}
    )
    return customer


@transaction.atomic
def delete_customer(customer_id: int, *, actor) -> Customer:
    """Soft delete: the record goes to the recycle bin (回收站) and can be restored."""
    require(actor, Perm.CUSTOMER_DELETE)
    customer = get_for_write(customer_id, actor=actor)
    customer.deleted_at = timezone.now()
    customer.deleted_by = actor if isinstance(actor, User) else None
    customer.save(update_fields=["deleted_at", "deleted_by"])
    audit.record(
        AuditAction.DELETE,
        customer,
        actor=actor,
        before={"deleted_at": None},
        after={"deleted_at": customer.deleted_at},
    )
    emit(CustomerEvent.DELETED, customer, actor=actor)
    return customer


@transaction.atomic
def restore_customer(customer_id: int, *, actor) -> Customer:
    require(actor, Perm.CUSTOMER_DELETE)
    customer = (
        Customer.objects.visible_to(actor)
        .deleted()
        .select_for_update(of=("self",))
        .filter(pk=customer_id)
        .first()
    )
    if customer is None:
        raise NotFound(customer_id)
    before = {"deleted_at": customer.deleted_at}
    customer.deleted_at = None
    customer.deleted_by = None
    customer.save(update_fields=["deleted_at", "deleted_by"])
    audit.record(AuditAction.RESTORE, customer, actor=actor, before=before, after={"deleted_at": None})
    emit(CustomerEvent.RESTORED, customer, actor=actor)
    return customer
