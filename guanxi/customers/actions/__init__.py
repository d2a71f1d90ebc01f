"""Customer actions: the only code that writes customers and their contact points.

Every action validates its input, checks permission and data scope, writes the
rows, an audit entry and a domain event in one transaction, and does nothing
(no audit, no event) when nothing changed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core import audit, customfields, sensitive, settings_store
from guanxi.core.converters import as_id
from guanxi.core.events import emit, emit_many
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import AuditAction, CustomObject, Tag, User
from guanxi.core.permissions import Perm
from guanxi.customers import identity, ownership
from guanxi.customers.events import CustomerEvent
from guanxi.customers.fields import SENSITIVE_CONTACTS
from guanxi.customers.models import (
    Channel,
    ContactKind,
    ContactPoint,
    Customer,
    CustomerKind,
    DuplicateCandidate,
    DuplicatePolicy,
    Gender,
    LifecycleStage,
    MergeRecord,
    ReviewStatus,
    Tier,
)

NAME_MAX = {CustomerKind.PERSON: 100, CustomerKind.COMPANY: 200}
TEXT_LIMITS = {"title": 100, "industry": 50, "province": 50, "city": 50, "address": 300, "notes": 5000}
CHOICE_FIELDS = {
    "kind": CustomerKind,
    "gender": Gender,
    "source": Channel,
    "lifecycle_stage": LifecycleStage,
    "tier": Tier,
}
# Shortcut fields for the primary contact point of a kind (used by forms and the API).
PRIMARY_CONTACT_FIELDS = {
    "phone": ContactKind.PHONE,
    "email": ContactKind.EMAIL,
    "wechat_id": ContactKind.WECHAT_ID,
}
EDITABLE_FIELDS = {
    "kind", "name", "company_id", "company_name", "title", "gender", "birthday", "industry", "province", "city",
    "address", "source", "owner_id", "lifecycle_stage", "tier", "tags", "notes", "custom_fields",
    "contact_points", *PRIMARY_CONTACT_FIELDS,
}  # fmt: skip
SNAPSHOT_FIELDS = [
    "kind", "name", "company_id", "title", "gender", "birthday", "industry", "province", "city", "address",
    "source", "owner_id", "lifecycle_stage", "tier", "notes", "custom_fields",
]  # fmt: skip


def _error_message(exc: normalize.NormalizationError, max_length: int | None = None) -> str:
    messages = {
        "empty": _("This field is required."),
        "markup": _("Must not contain the characters < or >."),
        "control_chars": _("Must not contain control characters."),
        "invalid_phone": _("Enter a valid phone number, for example 138 1234 5678."),
        "invalid_email": _("Enter a valid email address."),
        "invalid_wechat_id": _("Enter a valid WeChat ID (6–64 letters, digits, - or _)."),
    }
    if exc.code == "too_long":
        return _("Must be at most %(max)d characters.") % {"max": max_length or 0}
    return messages.get(exc.code, _("Invalid value."))


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


def clean_customer_input(
    data: dict[str, Any],
    *,
    actor,
    instance: Customer | None = None,
    partial: bool = False,
    registry: customfields.Registry | None = None,
) -> dict[str, Any]:
    """Validate and normalize customer input from any path (page, API, import). Raises ValidationError.

    `partial` (ingestion of data for a customer that may already exist): the name is not required,
    and unique custom values are checked by ingest_customer once it knows which customer the data
    goes to. `registry`: a prebuilt customer field registry (an import builds one per run).
    """
    errors: dict[str, list[str]] = {}
    unknown = set(data) - EDITABLE_FIELDS
    for field in sorted(unknown):
        errors.setdefault(field, []).append(_("Unknown field."))
    cleaned: dict[str, Any] = {}
    creating = instance is None and not partial

    for field, enum in CHOICE_FIELDS.items():
        if field in data and data[field] is not None:
            if data[field] not in enum.values:
                errors.setdefault(field, []).append(
                    _("Select a valid choice: %(choices)s.")
                    % {"choices": ", ".join(v for v in enum.values if v)}
                )
            else:
                cleaned[field] = data[field]
    kind = cleaned.get("kind") or (instance.kind if instance else CustomerKind.PERSON)

    if "name" in data and partial and not data["name"]:
        pass
    elif "name" in data or creating:
        raw = data.get("name")
        if not isinstance(raw, str):
            raw = "" if raw is None else str(raw)
        try:
            cleaned["name"] = normalize.clean_text(raw, max_length=NAME_MAX[kind], field="name")
        except normalize.NormalizationError as exc:
            errors.setdefault("name", []).append(_error_message(exc, NAME_MAX[kind]))

    for field, limit in TEXT_LIMITS.items():
        if field in data:
            raw = data[field] or ""
            if not isinstance(raw, str):
                errors.setdefault(field, []).append(_("Must be text."))
                continue
            if not raw.strip():
                cleaned[field] = ""
                continue
            try:
                if field == "notes":
                    # Free text may hold < and >: it is always escaped on output.
                    if len(raw) > limit:
                        raise normalize.NormalizationError("too long", code="too_long")
                    cleaned[field] = raw.strip()
                else:
                    cleaned[field] = normalize.clean_text(raw, max_length=limit, field=field)
            except normalize.NormalizationError as exc:
                errors.setdefault(field, []).append(_error_message(exc, limit))

    if "birthday" in data:
        value = data["birthday"]
        if value in (None, ""):
            cleaned["birthday"] = None
        else:
            try:
                day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
                if day > timezone.localdate() or day.year < 1900:
                    raise ValueError
                cleaned["birthday"] = day
            except (TypeError, ValueError):
                errors.setdefault("birthday", []).append(_("Enter a valid date between 1900 and today."))

    for field, contact_kind in PRIMARY_CONTACT_FIELDS.items():
        if field in data:
            raw = data[field] or ""
            if not str(raw).strip():
                cleaned[field] = ""
                continue
            try:
                cleaned[field] = normalize_contact(contact_kind, str(raw))
            except normalize.NormalizationError as exc:
                errors.setdefault(field, []).append(_error_message(exc))

    if data.get("contact_points") is not None:
        points = []
        for i, item in enumerate(data["contact_points"]):
            if not isinstance(item, dict):
                errors.setdefault("contact_points", []).append(_("Item %(n)d: invalid.") % {"n": i + 1})
                continue
            ckind = item.get("kind")
            if ckind not in ContactKind.values:
                errors.setdefault("contact_points", []).append(_("Item %(n)d: unknown type.") % {"n": i + 1})
                continue
            try:
                norm = normalize_contact(ckind, str(item.get("value") or ""))
            except normalize.NormalizationError as exc:
                errors.setdefault("contact_points", []).append(
                    _("Item %(n)d: %(error)s") % {"n": i + 1, "error": _error_message(exc, 300)}
                )
                continue
            source = item.get("source") or Channel.MANUAL
            if source not in Channel.values:
                errors.setdefault("contact_points", []).append(
                    _("Item %(n)d: unknown source.") % {"n": i + 1}
                )
                continue
            points.append(
                {
                    "kind": ckind,
                    "normalized": norm,
                    "source": source,
                    "source_ref": str(item.get("source_ref") or "")[:100],
                    "verified": bool(item.get("verified")),
                }
            )
        cleaned["contact_points"] = points

    if "owner_id" in data:
        owner_id = data["owner_id"]
        if owner_id in (None, ""):
            cleaned["owner_id"] = None
        else:
            owner = (
                User.objects.filter(pk=owner_id, is_active=True).first() if str(owner_id).isdigit() else None
            )
            if owner is None:
                errors.setdefault("owner_id", []).append(_("Select an active user."))
            else:
                cleaned["owner_id"] = owner.pk

    if data.get("company_id") not in (None, ""):
        company = (
            Customer.objects.visible_to(actor)
            .alive()
            .filter(pk=data["company_id"], kind=CustomerKind.COMPANY)
            .first()
            if str(data["company_id"]).isdigit()
            else None
        )
        if company is None or (instance is not None and company.pk == instance.pk):
            errors.setdefault("company_id", []).append(_("Select an existing company customer."))
        else:
            cleaned["company_id"] = company.pk
    elif "company_id" in data:
        cleaned["company_id"] = None
    if data.get("company_name"):
        try:
            cleaned["company_name"] = normalize.clean_text(str(data["company_name"]), max_length=200)
        except normalize.NormalizationError as exc:
            errors.setdefault("company_name", []).append(_error_message(exc, 200))
    if kind == CustomerKind.COMPANY and (cleaned.get("company_id") or cleaned.get("company_name")):
        errors.setdefault("company_id", []).append(_("A company cannot belong to another company."))

    if "tags" in data:
        tags = data["tags"] or []
        if isinstance(tags, str):
            tags = [t for t in (p.strip() for p in tags.replace("，", ",").split(",")) if t]
        try:
            cleaned["tags"] = sorted({normalize.clean_text(str(t), max_length=50) for t in tags})
        except normalize.NormalizationError as exc:
            errors.setdefault("tags", []).append(_error_message(exc, 50))
        else:
            refused = sorted(
                tag.name
                for tag in Tag.objects.filter(name__in=cleaned["tags"])
                if tag.object_types and CustomObject.CUSTOMER not in tag.object_types
            )
            if refused:
                errors.setdefault("tags", []).append(
                    _("These tags cannot be used on customers: %(tags)s.") % {"tags": "、".join(refused)}
                )

    if "custom_fields" in data or creating:
        registry = registry or customfields.Registry(CustomObject.CUSTOMER)
        values, custom_errors = registry.clean(
            data.get("custom_fields"),
            current=instance.custom_fields if instance is not None else None,
            creating=creating,
            instance_id=instance.pk if instance is not None else None,
            actor=actor,
            check_unique=not partial,
        )
        errors.update(custom_errors)
        cleaned["custom_fields"] = values

    if errors:
        raise ValidationError(errors)
    return cleaned


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


def _apply_tags(customer: Customer, names: list[str]) -> None:
    existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    tags = [existing.get(n) or Tag.objects.create(name=n) for n in names]
    customer.tags.set(tags)


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


def _company_for(name: str, *, actor, owner_id: int | None) -> Customer:
    """The visible company customer with exactly this name, or a new one owned like the contact."""
    key_match = (
        Customer.objects.visible_to(actor).alive().filter(kind=CustomerKind.COMPANY, name=name).first()
    )
    if key_match:
        return key_match
    return create_customer(
        {"kind": CustomerKind.COMPANY, "name": name, "owner_id": owner_id},
        actor=actor,
        confirm_duplicate=True,
    )


def _refresh_derived(customer: Customer, *, check_stage: bool = False) -> None:
    """Keep the stored completeness score true; optionally enforce the stage's required fields."""
    from guanxi.customers import quality

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


@transaction.atomic
def update_customer(
    customer_id: int, data: dict[str, Any], *, actor, confirm_duplicate: bool = False
) -> Customer:
    require(actor, Perm.CUSTOMER_CHANGE)
    customer = get_for_write(customer_id, actor=actor)
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
    emit(CustomerEvent.UPDATED, customer, actor=actor, payload={"changed": sorted(a)})
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
    fields = []
    for field in SNAPSHOT_FIELDS:
        if field in ("owner_id", "custom_fields") or field not in cleaned:
            continue
        new, old = cleaned[field], getattr(customer, field)
        if new in (None, "") or new == old:
            continue
        if old in (None, "") or overwrite:
            setattr(customer, field, new)
            fields.append(field)
    incoming_custom = {
        k: v for k, v in (cleaned.get("custom_fields") or {}).items() if v not in (None, "", [])
    }
    if incoming_custom:
        registry = registry or customfields.Registry(CustomObject.CUSTOMER)
        current = registry.normalize_stored(customer.custom_fields or {})
        merged = {**current, **{k: v for k, v in incoming_custom.items() if overwrite or k not in current}}
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
        sources = dict(customer.field_sources or {})
        stamp = timezone.now().isoformat()
        for field in fields:
            sources[field] = {"channel": channel, "at": stamp}
        customer.field_sources = sources
        if "name" in fields or "kind" in fields:
            _set_name_keys(customer)
            fields += ["name_pinyin", "name_initials"]
        customer.save(update_fields=[*fields, "field_sources", "updated_at"])
    if cleaned.get("tags"):
        names = sorted(set(cleaned["tags"]) | set(customer.tags.values_list("name", flat=True)))
        _apply_tags(customer, names)
    incoming = [
        {"kind": kind, "normalized": value, "source": channel, "source_ref": "", "verified": False}
        for field, kind in PRIMARY_CONTACT_FIELDS.items()
        if (value := cleaned.get(field))
    ] + list(cleaned.get("contact_points") or [])
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
        cleaned.setdefault("contact_points", [])
        cleaned["contact_points"] = [
            *cleaned["contact_points"],
            {
                "kind": ContactKind.EXTERNAL_ID,
                "normalized": identity.external_id(channel, external_ref),
                "source": channel,
                "source_ref": external_ref[:100],
                "verified": True,
            },
        ]
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


@transaction.atomic
def merge_customers(
    survivor_id: int, merged_id: int, *, actor, field_choices: dict[str, str] | None = None
) -> MergeRecord:
    """Merge `merged_id` into `survivor_id` (合并): fields by survivorship rules, every related row moved,
    provenance kept, the merged record soft-deleted with `merged_into`. Reversible with `unmerge`."""
    from guanxi.customers import merging

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
    from guanxi.customers import merging

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
    from guanxi.core.customization import tag_allowed

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
