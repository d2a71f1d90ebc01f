"""The write steps every customer action shares: locking a row through the actor's data scope,
creating a row (for `create_customer`, `ingest_customer` and a contact's company by name), the
owner a new row may get, and the derived columns (pinyin keys, completeness) kept true."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from guanxi import text as normalize
from guanxi.core import audit
from guanxi.core.converters import as_id
from guanxi.core.events import emit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, User
from guanxi.core.permissions import Perm
from guanxi.customers import ownership, quality
from guanxi.customers.actions.cleaning import clean_customer_input
from guanxi.customers.actions.contacts import _apply_contacts
from guanxi.customers.actions.tags import _apply_tags
from guanxi.customers.events import CustomerEvent
from guanxi.customers.models import Channel, Customer, CustomerKind
from guanxi.customers.snapshots import SNAPSHOT_FIELDS, snapshot
from guanxi.customization import registry as customfields


def get_for_write(customer_id: int, *, actor) -> Customer:
    """Lock and return a customer the actor may see, or raise NotFound (nothing is written)."""
    if as_id(customer_id) is None:
        raise NotFound(customer_id)
    customer = (
        Customer.objects.visible_to(actor)
        .alive()
        .select_for_update(of=("self",))
        .filter(pk=customer_id)
        .first()
    )
    if customer is None:
        raise NotFound(customer_id)
    return customer


def _check_owner_change(actor, new_owner_id: int | None, current_owner_id: int | None) -> None:
    """The owner a new customer may get (the import replays this check); changes of an existing
    customer's owner are checked by ownership.change_owner."""
    if new_owner_id != current_owner_id:
        ownership.check_initial_owner(actor, new_owner_id)


def _company_for(name: str, *, actor, owner_id: int | None) -> Customer:
    """The visible company customer with exactly this name, or a new one owned like the contact."""
    key_match = (
        Customer.objects.visible_to(actor).alive().filter(kind=CustomerKind.COMPANY, name=name).first()
    )
    if key_match:
        return key_match
    # What create_customer(..., confirm_duplicate=True) does for a name without identifiers: no
    # identifier to lock or to match exactly, so no duplicate policy can stop or redirect it.
    require(actor, Perm.CUSTOMER_CREATE)
    cleaned = clean_customer_input(
        {"kind": CustomerKind.COMPANY, "name": name, "owner_id": owner_id}, actor=actor
    )
    return _create(cleaned, actor=actor, default_source=Channel.MANUAL)


def _refresh_derived(customer: Customer, *, check_stage: bool = False) -> None:
    """Keep the stored completeness score true; optionally enforce the stage's required fields."""
    kinds = set(customer.contact_points.values_list("kind", flat=True))
    if check_stage:
        values = {f: getattr(customer, f) for f in quality.REQUIRABLE if hasattr(customer, f)}
        errors = quality.stage_requirement_errors(values, kinds, customer.lifecycle_stage)
        if errors:
            raise ValidationError(errors)  # the surrounding transaction rolls the write back
    score = quality.completeness_of(customer, kinds)
    if score != customer.completeness:
        customer.completeness = score
        Customer.objects.filter(pk=customer.pk).update(completeness=score)


def _set_name_keys(customer: Customer) -> None:
    pinyin, initials = normalize.search_keys(customer.name, person=customer.kind == CustomerKind.PERSON)
    # Up to ~6 letters per character: keep within the columns (prefix search is what they serve).
    customer.name_pinyin, customer.name_initials = pinyin[:400], initials[:100]


def _create(
    cleaned: dict[str, Any], *, actor, default_source: str, registry: customfields.Registry | None = None
) -> Customer:
    owner_id = cleaned.get("owner_id", actor.pk if actor is not None else None)
    _check_owner_change(actor, owner_id, actor.pk if actor is not None else None)
    company_name = cleaned.pop("company_name", None)
    if company_name:
        cleaned["company_id"] = _company_for(company_name, actor=actor, owner_id=owner_id).pk
    channel = cleaned.get("source") or default_source
    customer = Customer(
        **{k: v for k, v in cleaned.items() if k in SNAPSHOT_FIELDS and k != "owner_id"},
        **ownership.initial_state(owner_id, at=timezone.now()),
        created_by=actor if isinstance(actor, User) else None,
    )
    customer.source = channel
    _set_name_keys(customer)
    customer.save()
    if cleaned.get("tags"):
        _apply_tags(customer, cleaned["tags"])
    _apply_contacts(customer, cleaned, default_source=channel)
    _refresh_derived(customer, check_stage=True)
    audit.record(AuditAction.CREATE, customer, actor=actor, before=None, after=snapshot(customer, registry))
    emit(CustomerEvent.CREATED, customer, actor=actor, payload={"owner_id": owner_id, "source": channel})
    return customer
