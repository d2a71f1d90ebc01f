"""Customer reads. Every read starts from `Customer.objects.visible_to(user)`."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet

from guanxi.core.converters import as_id
from guanxi.core.permissions import Perm
from guanxi.customers import normalize
from guanxi.customers.models import ContactKind, ContactPoint, Customer


@dataclass(frozen=True)
class CustomerFilters:
    q: str = ""
    kind: str = ""
    owner_id: int | None = None
    lifecycle_stage: str = ""
    tier: str = ""
    source: str = ""
    tag: str = ""
    city: str = ""
    unowned: bool = False


def _contact_match(kind: str, normalized: str) -> QuerySet:
    return ContactPoint.objects.filter(kind=kind, normalized=normalized).values("customer_id")


def search_q(q: str) -> Q | None:
    """Build the filter for a free-text search: phone, email, WeChat ID, name, pinyin, initials, company."""
    q = " ".join(q.split())
    if not q:
        return None
    if "@" in q:
        try:
            return Q(pk__in=_contact_match(ContactKind.EMAIL, normalize.normalize_email(q)))
        except normalize.NormalizationError:
            pass
    compact = q.replace(" ", "").replace("-", "")
    if compact.lstrip("+").isdigit():
        try:
            return Q(pk__in=_contact_match(ContactKind.PHONE, normalize.normalize_phone(q)))
        except normalize.NormalizationError:
            if len(compact) >= 4:  # tail of a number ("5678")
                return Q(
                    pk__in=ContactPoint.objects.filter(
                        kind=ContactKind.PHONE, normalized__endswith=compact
                    ).values("customer_id")
                )
            return Q(pk__in=[])
    if compact.isascii():
        key = compact.lower()
        result = (
            Q(name_initials__startswith=key)
            | Q(name_pinyin__startswith=key)
            | Q(name__istartswith=q)
            | Q(company__name_initials__startswith=key)
            | Q(company__name_pinyin__startswith=key)
        )
        if len(compact) >= 6:
            result |= Q(pk__in=_contact_match(ContactKind.WECHAT_ID, compact))
        return result
    variants = {q, normalize.to_simplified(q)}
    result = Q()
    for v in variants:
        result |= Q(name__contains=v) | Q(company__name__contains=v)
    return result


def customer_list(user, filters: CustomerFilters) -> QuerySet:
    qs = Customer.objects.visible_to(user).alive()
    sq = search_q(filters.q)
    if sq is not None:
        qs = qs.filter(sq)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.owner_id:
        qs = qs.filter(owner_id=filters.owner_id)
    if filters.unowned:
        qs = qs.filter(owner__isnull=True)
    if filters.lifecycle_stage:
        qs = qs.filter(lifecycle_stage=filters.lifecycle_stage)
    if filters.tier:
        qs = qs.filter(tier=filters.tier)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.city:
        qs = qs.filter(city=filters.city)
    if filters.tag:
        qs = qs.filter(tags__name=filters.tag)
    return with_list_relations(qs).order_by("-id")


def with_list_relations(qs: QuerySet) -> QuerySet:
    """Everything a list row shows, in a fixed number of queries (no N+1)."""
    return qs.select_related("owner", "company").prefetch_related(
        "tags",
        Prefetch(
            "contact_points",
            queryset=ContactPoint.objects.filter(is_primary=True).order_by("kind"),
            to_attr="primary_contacts",
        ),
    )


def get_visible(user, customer_id: int, *, include_deleted: bool = False) -> Customer | None:
    if as_id(customer_id) is None:
        return None
    qs = Customer.objects.visible_to(user)
    if not include_deleted:
        qs = qs.alive()
    return (
        qs.select_related("owner", "company", "created_by")
        .prefetch_related("tags", "contact_points")
        .filter(pk=customer_id)
        .first()
    )


def primary_contact(customer: Customer, kind: str) -> ContactPoint | None:
    points = getattr(customer, "primary_contacts", None)
    if points is None:
        points = [c for c in customer.contact_points.all() if c.is_primary]
    return next((c for c in points if c.kind == kind), None)


def can_see_sensitive(user, customer: Customer) -> bool:
    """Full phone numbers: for the customer's owner and holders of the sensitive-data permission."""
    return user is None or customer.owner_id == user.pk or user.has_perm_code(Perm.CUSTOMER_VIEW_SENSITIVE)


def shown_contact(user, customer: Customer, point: ContactPoint | None) -> str:
    """The value a user may see: phones are masked (138****5678) for those not entitled."""
    if point is None:
        return ""
    if point.kind == ContactKind.PHONE and not can_see_sensitive(user, customer):
        return normalize.mask_phone(point.normalized)
    return point.value


def merge_history(customer: Customer):
    """Merges this customer received or gave, newest first (shown on the customer page)."""
    from guanxi.customers.models import MergeRecord

    return (
        MergeRecord.objects.filter(Q(survivor=customer) | Q(merged=customer))
        .select_related("merged", "survivor")
        .order_by("-id")[:20]
    )
