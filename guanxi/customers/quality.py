"""Data quality: completeness scores, required fields per lifecycle stage, the cleansing sweep.

Completeness is a weighted share of the fields a CRM needs to work a customer. It is computed in
Python when an action writes one customer, and in SQL (one UPDATE per id range) by the sweep for
bulk-loaded rows; `tests/customers/test_quality.py` keeps the two definitions equal.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Avg, Case, Count, Exists, IntegerField, OuterRef, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.core import settings_store
from guanxi.customers.models import (
    ContactKind,
    ContactPoint,
    Customer,
    CustomerKind,
    DuplicateCandidate,
    QualityReport,
    ReviewStatus,
)

MESSAGING = (ContactKind.EMAIL, ContactKind.WECHAT_ID, ContactKind.WECHAT_OPENID, ContactKind.WECHAT_UNIONID)
# (label, weight, test) per kind; weights add up to 100.
PERSON_WEIGHTS = {"phone": 30, "messaging": 15, "city": 15, "province": 5, "company_id": 10, "title": 5,
                  "gender": 5, "birthday": 5, "industry": 5, "owner_id": 5}  # fmt: skip
COMPANY_WEIGHTS = {"phone": 30, "messaging": 10, "city": 15, "province": 5, "industry": 15, "address": 15,
                   "owner_id": 10}  # fmt: skip
assert sum(PERSON_WEIGHTS.values()) == 100 and sum(COMPANY_WEIGHTS.values()) == 100
# Fields that can be required per lifecycle stage (setting customers.required_fields_by_stage).
REQUIRABLE = ["phone", "email", "wechat_id", "city", "province", "company_id", "title", "industry", "address",
              "birthday", "gender", "owner_id", "tier"]  # fmt: skip


def completeness_of(customer: Customer, contact_kinds: set[str]) -> int:
    weights = COMPANY_WEIGHTS if customer.kind == CustomerKind.COMPANY else PERSON_WEIGHTS
    score = 0
    for item, weight in weights.items():
        if item == "phone":
            filled = ContactKind.PHONE in contact_kinds
        elif item == "messaging":
            filled = bool(contact_kinds & set(MESSAGING))
        else:
            filled = getattr(customer, item) not in (None, "")
        score += weight if filled else 0
    return score


def _completeness_expression():
    has = {
        "phone": Exists(ContactPoint.objects.filter(customer_id=OuterRef("pk"), kind=ContactKind.PHONE)),
        "messaging": Exists(ContactPoint.objects.filter(customer_id=OuterRef("pk"), kind__in=MESSAGING)),
    }

    def filled(item: str):
        if item in has:
            return has[item]
        if item in ("company_id", "owner_id", "birthday"):
            return Q(**{f"{item}__isnull": False})
        return ~Q(**{item: ""})

    def total(weights, kind):
        expr = Value(0)
        for item, weight in weights.items():
            expr = expr + Case(When(filled(item), then=Value(weight)), default=Value(0))
        return When(kind=kind, then=expr)

    return Case(
        total(PERSON_WEIGHTS, CustomerKind.PERSON),
        total(COMPANY_WEIGHTS, CustomerKind.COMPANY),
        default=Value(0),
        output_field=IntegerField(),
    )


def recompute_completeness(id_from: int, id_to: int) -> int:
    """Recompute the stored score for ids in [id_from, id_to) with one UPDATE; returns rows changed.

    No audit entry: the score is derived data (a function of the customer's fields and contact
    points, stored only so lists can sort by it), nobody's change of record."""
    return (
        Customer.objects.filter(pk__gte=id_from, pk__lt=id_to)
        .exclude(completeness=_completeness_expression())
        .update(completeness=_completeness_expression())
    )


def stage_requirement_errors(
    values: dict[str, Any], contact_kinds: set[str], stage: str
) -> dict[str, list[str]]:
    """Fields the company requires at `stage` that are empty (setting customers.required_fields_by_stage)."""
    required = (settings_store.get("customers.required_fields_by_stage") or {}).get(stage) or []
    errors: dict[str, list[str]] = {}
    contact_fields = {
        "phone": ContactKind.PHONE,
        "email": ContactKind.EMAIL,
        "wechat_id": ContactKind.WECHAT_ID,
    }
    for field in required:
        if field in contact_fields:
            missing = contact_fields[field] not in contact_kinds
        else:
            missing = values.get(field) in (None, "")
        if missing:
            errors[field] = [_("Required for customers at this lifecycle stage.")]
    return errors


def owner_summary(user) -> list[dict[str, Any]]:
    """Average completeness and incomplete counts per owner, over the customers `user` may see."""
    rows = (
        Customer.objects.visible_to(user)
        .alive()
        .values("owner_id", "owner__username", "owner__display_name")
        .annotate(
            customers=Count("id"),
            average=Coalesce(Avg("completeness"), 0.0),
            incomplete=Count("id", filter=Q(completeness__lt=60)),
        )
        .order_by("average")
    )
    return [
        {
            "owner_id": r["owner_id"],
            "owner": r["owner__display_name"] or r["owner__username"] or "",
            "customers": r["customers"],
            "average": round(r["average"], 1),
            "incomplete": r["incomplete"],
        }
        for r in rows
    ]


def cleanse(chunk: int = 20_000, sample: int = 50) -> QualityReport:
    """The periodic cleansing sweep (数据清洗): recompute scores, find bad data, report. Never deletes.

    Writes only derived data (scores, the QualityReport), so no audit entries."""
    stats: dict[str, int] = {
        "completeness_updated": 0,
        "invalid_phones": 0,
        "no_contact": 0,
        "stale_duplicates": 0,
    }
    samples: dict[str, list] = {"invalid_phones": [], "no_contact": [], "stale_duplicates": []}
    last = Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for start in range(0, last + 1, chunk):
        stats["completeness_updated"] += recompute_completeness(start, start + chunk)
    last_point = ContactPoint.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for start in range(0, last_point + 1, chunk):
        rows = ContactPoint.objects.filter(
            kind=ContactKind.PHONE, pk__gte=start, pk__lt=start + chunk, customer__deleted_at__isnull=True
        ).values_list("pk", "customer_id", "normalized")
        for pk, customer_id, value in rows:
            try:
                ok = normalize.normalize_phone(value) == value
            except normalize.NormalizationError:
                ok = False
            if not ok:
                stats["invalid_phones"] += 1
                if len(samples["invalid_phones"]) < sample:
                    samples["invalid_phones"].append(
                        {"contact_point": pk, "customer": customer_id, "value": value}
                    )
    no_contact = Customer.objects.alive().filter(
        ~Exists(ContactPoint.objects.filter(customer_id=OuterRef("pk")))
    )
    stats["no_contact"] = no_contact.count()
    samples["no_contact"] = list(no_contact.order_by("pk").values_list("pk", flat=True)[:sample])
    stale = DuplicateCandidate.objects.filter(
        status__in=[ReviewStatus.OPEN, ReviewStatus.LATER],
        detected_at__lt=timezone.now() - dt.timedelta(days=30),
    )
    stats["stale_duplicates"] = stale.count()
    samples["stale_duplicates"] = list(stale.order_by("pk").values_list("pk", flat=True)[:sample])
    return QualityReport.objects.create(stats=stats, samples=samples)
