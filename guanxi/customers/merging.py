"""Merge two customers with survivorship rules, and undo it (unmerge).

The merge engine below the actions: `actions.merge_customers` / `actions.unmerge` (`actions/merge.py`)
are the entry points and add permission, scope, audit and event.
Every relation pointing at Customer is moved generically, so relations added by later apps
(follow-ups, tasks, deals, tickets…) move with no change here.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.customers.models import ContactPoint, Customer, DuplicateCandidate, MergeRecord
from guanxi.customers.snapshots import full_state

# Relations that record history about customers rather than belong to them: never moved.
NOT_MOVED = {"customers.MergeRecord", "customers.DuplicateCandidate", "customers.ImportRow",
             "customers.InboundDelivery"}  # fmt: skip
CUSTOM_PREFIX = "cf."  # custom fields take part in survivorship as "cf.<key>"
MERGEABLE_FIELDS = [
    "name", "company_id", "title", "gender", "birthday", "industry", "province", "city", "address",
    "lifecycle_stage", "tier", "notes",
]  # fmt: skip


def _empty(value: Any) -> bool:
    return value in (None, "", {}, [])


def choose_fields(survivor: Customer, merged: Customer, overrides: dict[str, str] | None) -> dict[str, str]:
    """Per field, which record's value survives ("survivor" or "merged").

    Default rules: a non-empty value beats an empty one; when both are filled, the value of the more
    recently updated record wins. `overrides` (the steward's picks) take precedence.
    """
    overrides = overrides or {}
    custom_refs = {
        CUSTOM_PREFIX + k for k in {**(survivor.custom_fields or {}), **(merged.custom_fields or {})}
    }
    unknown = set(overrides) - set(MERGEABLE_FIELDS) - custom_refs
    bad = {k for k, v in overrides.items() if v not in ("survivor", "merged")}
    if unknown or bad:
        raise ValidationError(
            {"field_choices": [_("Unknown field or choice: %(f)s") % {"f": sorted(unknown | bad)}]}
        )
    choices = {}
    newer_is_merged = merged.updated_at > survivor.updated_at
    for field in MERGEABLE_FIELDS:
        sv, mv = getattr(survivor, field), getattr(merged, field)
        if field in overrides:
            choices[field] = overrides[field]
        elif (
            _empty(sv)
            and not _empty(mv)
            or not _empty(sv)
            and not _empty(mv)
            and sv != mv
            and newer_is_merged
        ):
            choices[field] = "merged"
        else:
            choices[field] = "survivor"
    for ref in sorted(custom_refs):
        key = ref[len(CUSTOM_PREFIX) :]
        sv, mv = (survivor.custom_fields or {}).get(key), (merged.custom_fields or {}).get(key)
        if ref in overrides:
            choices[ref] = overrides[ref]
        elif (_empty(sv) and not _empty(mv)) or (
            not _empty(sv) and not _empty(mv) and sv != mv and newer_is_merged
        ):
            choices[ref] = "merged"
        else:
            choices[ref] = "survivor"
    if merged.company_id == survivor.pk:
        choices["company_id"] = "survivor"  # a contact cannot become its own company
    return choices


def _relations():
    for rel in Customer._meta.related_objects:
        if not (rel.one_to_many or rel.one_to_one) or not isinstance(rel.field, models.ForeignKey):
            continue
        label = rel.related_model._meta.label
        if label in NOT_MOVED or rel.related_model is ContactPoint:
            continue
        if rel.related_model is Customer and rel.field.name != "company":
            continue  # merged_into bookkeeping
        yield label, rel.related_model, rel.field.name


def perform_merge(
    survivor: Customer, merged: Customer, *, actor, field_choices: dict[str, str]
) -> MergeRecord:
    survivor_before, merged_before = full_state(survivor), full_state(merged)
    moved: dict[str, list] = {}
    custom = dict(survivor.custom_fields or {})
    for field, choice in field_choices.items():
        if choice != "merged":
            continue
        if field.startswith(CUSTOM_PREFIX):
            custom[field[len(CUSTOM_PREFIX) :]] = (merged.custom_fields or {}).get(
                field[len(CUSTOM_PREFIX) :]
            )
        else:
            setattr(survivor, field, getattr(merged, field))
    survivor.custom_fields = custom
    sources = dict(survivor.field_sources or {})
    for field, choice in field_choices.items():
        if choice == "merged":
            sources[field] = {"merged_from": merged.pk, "at": timezone.now().isoformat()}
    survivor.field_sources = sources
    for label, model, fk in _relations():
        ids = list(
            model.objects.filter(**{fk: merged.pk}).exclude(pk=survivor.pk).values_list("pk", flat=True)
        )
        if ids:
            model.objects.filter(pk__in=ids).update(**{fk: survivor.pk})
            moved[label] = ids
    held = set(survivor.contact_points.values_list("kind", "normalized"))
    primary_kinds = set(survivor.contact_points.filter(is_primary=True).values_list("kind", flat=True))
    points = []
    for point in merged.contact_points.all():
        if (point.kind, point.normalized) in held:
            continue  # the survivor holds it already; it stays on the merged record
        points.append([point.pk, point.is_primary])
        point.customer_id = survivor.pk
        point.is_primary = point.is_primary and point.kind not in primary_kinds
        point.save(update_fields=["customer", "is_primary"])
    moved["customers.ContactPoint"] = points
    added_tags = list(merged.tags.exclude(pk__in=survivor.tags.values("pk")).values_list("pk", flat=True))
    survivor.tags.add(*added_tags)
    moved["tags"] = added_tags
    survivor.save()
    merged.deleted_at = timezone.now()
    merged.merged_into = survivor
    merged.save(update_fields=["deleted_at", "merged_into"])
    a, b = sorted((survivor.pk, merged.pk))
    DuplicateCandidate.objects.filter(customer_a_id=a, customer_b_id=b).update(
        status="merged", decided_at=timezone.now(), decided_by=actor if actor else None
    )
    return MergeRecord.objects.create(
        survivor=survivor,
        merged=merged,
        survivor_before=survivor_before,
        merged_before=merged_before,
        field_choices=field_choices,
        moved=moved,
        actor=actor if actor else None,
    )


def perform_unmerge(record: MergeRecord, *, actor) -> None:
    survivor, merged = record.survivor, record.merged
    for field, choice in record.field_choices.items():
        if choice == "merged" and not field.startswith(CUSTOM_PREFIX):
            setattr(survivor, field, record.survivor_before["fields"][field])
    if any(f.startswith(CUSTOM_PREFIX) and c == "merged" for f, c in record.field_choices.items()):
        survivor.custom_fields = record.survivor_before["fields"].get("custom_fields") or {}
    survivor.field_sources = record.survivor_before["fields"].get("field_sources")
    for label, model, fk in _relations():
        ids = record.moved.get(label) or []
        if ids:
            model.objects.filter(pk__in=ids).update(**{fk: merged.pk})
    for pk, was_primary in record.moved.get("customers.ContactPoint", []):
        ContactPoint.objects.filter(pk=pk).update(customer_id=merged.pk, is_primary=was_primary)
    # Primary flags of the survivor's own points never change in a merge, so nothing to restore there.
    survivor.tags.remove(*record.moved.get("tags", []))
    survivor.save()
    merged.deleted_at = None
    merged.merged_into = None
    merged.save(update_fields=["deleted_at", "merged_into"])
    a, b = sorted((survivor.pk, merged.pk))
    DuplicateCandidate.objects.filter(customer_a_id=a, customer_b_id=b).update(
        status="open", decided_at=None, decided_by=None
    )
    record.undone_at = timezone.now()
    record.undone_by = actor if actor else None
    record.save(update_fields=["undone_at", "undone_by"])
