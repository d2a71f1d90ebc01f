"""Tags on customers: setting a customer's tags, and bulk tagging (set-based, audited per customer)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core import audit
from guanxi.core.converters import as_id
from guanxi.core.events import emit_many
from guanxi.core.exceptions import require
from guanxi.core.models import AuditAction
from guanxi.core.permissions import Perm
from guanxi.customers.actions.messages import _error_message
from guanxi.customers.events import CustomerEvent
from guanxi.customers.models import Customer
from guanxi.customization.actions import tag_allowed
from guanxi.customization.models import CustomObject, Tag


def _apply_tags(customer: Customer, names: list[str]) -> None:
    existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    tags = [existing.get(n) or Tag.objects.create(name=n) for n in names]
    customer.tags.set(tags)


BULK_TAG_LIMIT = 500


def _tag_names(names: Any) -> tuple[list[str], list[str]]:
    if isinstance(names, str):
        names = names.replace("，", ",").replace("、", ",").split(",")
    if not isinstance(names, list | tuple | set):
        return [], [_("Enter one or more tags.")]
    cleaned, errors = set(), []
    for name in names:
        if name is None or not str(name).strip():
            continue
        try:
            cleaned.add(normalize.clean_text(str(name), max_length=50))
        except normalize.NormalizationError as exc:
            errors.append(_error_message(exc, 50))
    if not cleaned and not errors:
        errors.append(_("Enter one or more tags."))
    return sorted(cleaned), errors


@transaction.atomic
def bulk_tag(customer_ids, names, *, actor, remove: bool = False) -> int:
    """Put tags on (or take them off) many customers at once; returns how many customers changed.

    Only customers the actor may see are touched (ids outside the data scope are left out, as if
    they did not exist). Each changed customer gets an audit entry (its tags before and after, as
    `update_customer` writes them) and a `customer.updated` event. Set-based: the tag links are
    read, inserted and deleted in one query each, whatever the number of customers.
    """
    require(actor, Perm.CUSTOMER_CHANGE)
    errors: dict[str, list[str]] = {}
    raw_ids = list(customer_ids or []) if not isinstance(customer_ids, str | int) else [customer_ids]
    ids = sorted({i for i in (as_id(v) for v in raw_ids) if i is not None})
    if not ids:
        errors["customer_ids"] = [_("Select at least one customer.")]
    elif len(ids) > BULK_TAG_LIMIT:
        errors["customer_ids"] = [
            _("Select at most %(limit)d customers at a time.") % {"limit": BULK_TAG_LIMIT}
        ]
    tag_names, tag_errors = _tag_names(names)
    if tag_errors:
        errors["tags"] = tag_errors
    if errors:
        raise ValidationError(errors)
    existing = {t.name: t for t in Tag.objects.filter(name__in=tag_names)}
    if remove:
        tags = list(existing.values())
    else:
        refused = sorted(n for n, t in existing.items() if not tag_allowed(t, CustomObject.CUSTOMER))
        if refused:
            message = _("These tags cannot be used on customers: %(tags)s.") % {"tags": "、".join(refused)}
            raise ValidationError({"tags": [message]})
        tags = [existing.get(n) or Tag.objects.get_or_create(name=n)[0] for n in tag_names]
    if not tags:
        return 0
    customers = list(
        Customer.objects.visible_to(actor)
        .alive()
        .select_for_update(of=("self",))
        .filter(pk__in=ids)
        .order_by("pk")
    )
    if not customers:
        return 0
    through = Customer.tags.through
    before: dict[int, set[str]] = {c.pk: set() for c in customers}
    linked: set[tuple[int, int]] = set()
    for customer_id, tag_id, tag_name in through.objects.filter(customer_id__in=before).values_list(
        "customer_id", "tag_id", "tag__name"
    ):
        before[customer_id].add(tag_name)
        linked.add((customer_id, tag_id))
    if remove:
        gone = {(c.pk, t.pk) for c in customers for t in tags if (c.pk, t.pk) in linked}
        changed_ids = {customer_id for customer_id, _tag in gone}
        if gone:
            through.objects.filter(customer_id__in=changed_ids, tag_id__in=[t.pk for t in tags]).delete()
    else:
        new = [(c.pk, t.pk) for c in customers for t in tags if (c.pk, t.pk) not in linked]
        changed_ids = {customer_id for customer_id, _tag in new}
        through.objects.bulk_create([through(customer_id=c, tag_id=t) for c, t in new], batch_size=1000)
    if not changed_ids:
        return 0
    names_set = {t.name for t in tags}
    changed = [c for c in customers if c.pk in changed_ids]
    now = timezone.now()
    Customer.objects.filter(pk__in=changed_ids).update(updated_at=now)
    audit.record_many(
        AuditAction.UPDATE,
        [
            (
                customer,
                {"tags": sorted(before[customer.pk])},
                {
                    "tags": sorted(
                        before[customer.pk] - names_set if remove else before[customer.pk] | names_set
                    )
                },
            )
            for customer in changed
        ],
        actor=actor,
    )
    emit_many(CustomerEvent.UPDATED, [(customer, {"changed": ["tags"]}) for customer in changed], actor=actor)
    return len(changed)
