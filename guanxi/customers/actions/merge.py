"""Merging two customers (合并), undoing a merge, and the steward's verdict on a pair in the
duplicate review queue. The survivorship rules and the moving of related rows are in
`customers/merging.py`; these actions add the permission, scope, audit and event around them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.events import emit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, User
from guanxi.core.permissions import Perm
from guanxi.customers import merging
from guanxi.customers.actions.rows import _refresh_derived, _set_name_keys
from guanxi.customers.events import CustomerEvent
from guanxi.customers.models import Customer, DuplicateCandidate, MergeRecord, ReviewStatus
from guanxi.customers.snapshots import snapshot


@transaction.atomic
def merge_customers(
    survivor_id: int, merged_id: int, *, actor, field_choices: dict[str, str] | None = None
) -> MergeRecord:
    """Merge `merged_id` into `survivor_id` (合并): fields by survivorship rules, every related row moved,
    provenance kept, the merged record soft-deleted with `merged_into`. Reversible with `unmerge`."""
    require(actor, Perm.CUSTOMER_MERGE)
    if survivor_id == merged_id:
        raise ValidationError({"merged_id": [_("A customer cannot be merged with itself.")]})
    locked = {
        c.pk: c
        for c in Customer.objects.visible_to(actor)
        .alive()
        .select_for_update(of=("self",))
        .filter(pk__in=[survivor_id, merged_id])
        .order_by("pk")
    }
    if len(locked) != 2:
        raise NotFound(merged_id if survivor_id in locked else survivor_id)
    survivor, merged = locked[survivor_id], locked[merged_id]
    if survivor.kind != merged.kind:
        raise ValidationError({"merged_id": [_("A person and a company cannot be merged.")]})
    before = snapshot(survivor)
    choices = merging.choose_fields(survivor, merged, field_choices)
    record = merging.perform_merge(survivor, merged, actor=actor, field_choices=choices)
    if "name" in [f for f, c in choices.items() if c == "merged"]:
        _set_name_keys(survivor)
        survivor.save(update_fields=["name_pinyin", "name_initials"])
    _refresh_derived(survivor)
    _refresh_derived(merged)
    b, a = audit.diff(before, snapshot(survivor))
    audit.record(AuditAction.MERGE, survivor, actor=actor, before=b, after={**a, "merged_from": merged.pk})
    audit.record(
        AuditAction.MERGE,
        merged,
        actor=actor,
        before={"deleted_at": None},
        after={"merged_into": survivor.pk},
    )
    emit(
        CustomerEvent.MERGED,
        survivor,
        actor=actor,
        payload={"merged_id": merged.pk, "merge_id": record.pk},
    )
    return record


@transaction.atomic
def unmerge(merge_id: int, *, actor) -> MergeRecord:
    """Undo a merge: both customers and every moved row are restored as they were."""
    require(actor, Perm.CUSTOMER_MERGE)
    record = MergeRecord.objects.select_for_update().filter(pk=merge_id).first()
    if record is None or not Customer.objects.visible_to(actor).filter(pk=record.survivor_id).exists():
        raise NotFound(merge_id)
    if record.undone_at is not None:
        raise ValidationError({"merge": [_("This merge was already undone.")]})
    later = MergeRecord.objects.filter(
        models.Q(survivor_id__in=[record.survivor_id, record.merged_id])
        | models.Q(merged_id__in=[record.survivor_id, record.merged_id]),
        pk__gt=record.pk,
        undone_at__isnull=True,
    )
    if later.exists():
        raise ValidationError({"merge": [_("Undo the later merges of these customers first.")]})
    survivor = Customer.objects.select_for_update(of=("self",)).get(pk=record.survivor_id)
    merged = Customer.objects.select_for_update(of=("self",)).get(pk=record.merged_id)
    record.survivor, record.merged = survivor, merged
    before = snapshot(survivor)
    merging.perform_unmerge(record, actor=actor)
    survivor.refresh_from_db()
    _set_name_keys(survivor)
    survivor.save(update_fields=["name_pinyin", "name_initials"])
    _refresh_derived(survivor)
    _refresh_derived(merged)
    b, a = audit.diff(before, snapshot(survivor))
    audit.record(AuditAction.UNMERGE, survivor, actor=actor, before=b, after={**a, "unmerged": merged.pk})
    audit.record(
        AuditAction.UNMERGE,
        merged,
        actor=actor,
        before={"merged_into": survivor.pk},
        after={"deleted_at": None},
    )
    emit(
        CustomerEvent.UNMERGED,
        survivor,
        actor=actor,
        payload={"merged_id": merged.pk, "merge_id": record.pk},
    )
    return record


@transaction.atomic
def decide_duplicate(candidate_id: int, decision: str, *, actor) -> DuplicateCandidate:
    """The steward's verdict on a pair in the review queue: not a duplicate (remembered: batch
    detection never proposes the pair again) or later. Merging goes through merge_customers."""
    require(actor, Perm.CUSTOMER_MERGE)
    if decision not in (ReviewStatus.NOT_DUPLICATE, ReviewStatus.LATER, ReviewStatus.OPEN):
        raise ValidationError({"decision": [_("Invalid value.")]})
    visible = Customer.objects.visible_to(actor)
    candidate = (
        DuplicateCandidate.objects.select_for_update()
        .filter(pk=candidate_id, customer_a__in=visible, customer_b__in=visible)
        .first()
    )
    if candidate is None:
        raise NotFound(candidate_id)
    if candidate.status == decision:
        return candidate
    before = {"status": candidate.status}
    candidate.status = decision
    candidate.decided_at = timezone.now()
    candidate.decided_by = actor if isinstance(actor, User) else None
    candidate.save(update_fields=["status", "decided_at", "decided_by"])
    audit.record(AuditAction.UPDATE, candidate, actor=actor, before=before, after={"status": decision})
    return candidate
