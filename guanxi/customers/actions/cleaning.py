"""Validation and normalisation of customer input from any path (page, API, import, webhooks).

The rules live here, not in the forms: `clean_customer_input` is the one place that decides what a
customer may hold, so the page, the API and the import can never disagree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core.models import User
from guanxi.customers.actions.contacts import PRIMARY_CONTACT_FIELDS, normalize_contact
from guanxi.customers.actions.messages import _error_message
from guanxi.customers.models import Channel, ContactKind, Customer, CustomerKind, Gender, LifecycleStage, Tier
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject, Tag

NAME_MAX = {CustomerKind.PERSON: 100, CustomerKind.COMPANY: 200}

TEXT_LIMITS = {"title": 100, "industry": 50, "province": 50, "city": 50, "address": 300, "notes": 5000}

CHOICE_FIELDS = {
    "kind": CustomerKind,
    "gender": Gender,
    "source": Channel,
    "lifecycle_stage": LifecycleStage,
    "tier": Tier,
}


EDITABLE_FIELDS = {
    "kind", "name", "company_id", "company_name", "title", "gender", "birthday", "industry", "province", "city",
    "address", "source", "owner_id", "lifecycle_stage", "tier", "tags", "notes", "custom_fields",
    "contact_points", *PRIMARY_CONTACT_FIELDS,
}  # fmt: skip


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
                    cleaned[field] = normalize.clean_free_text(raw, max_length=limit, field=field)
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
            try:
                source_ref = normalize.clean_free_text(
                    str(item.get("source_ref") or ""), max_length=100, multiline=False
                )
            except normalize.NormalizationError as exc:
                errors.setdefault("contact_points", []).append(
                    _("Item %(n)d: %(error)s") % {"n": i + 1, "error": _error_message(exc, 100)}
                )
                continue
            points.append(
                {
                    "kind": ckind,
                    "normalized": norm,
                    "source": source,
                    "source_ref": source_ref,
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
