"""Identity resolution: which existing customer does incoming data belong to?

Reads only (no writes). Matching looks across *all* customers, whatever the caller's data
scope: a user must always learn that a duplicate exists (撞单), even when the record belongs to
someone they cannot see; what they are shown of it is limited (owner, matched field).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from guanxi import text as normalize
from guanxi.customers.models import ContactKind, ContactPoint, Customer, CustomerKind

# Strongest identifier first: the first kind that matches decides where data lands.
IDENTIFIER_KINDS = [
    ContactKind.EXTERNAL_ID,
    ContactKind.WECHAT_UNIONID,
    ContactKind.WECHAT_OPENID,
    ContactKind.PHONE,
    ContactKind.EMAIL,
    ContactKind.WECHAT_ID,
]
PRIMARY_CONTACT_FIELDS = {
    "phone": ContactKind.PHONE,
    "email": ContactKind.EMAIL,
    "wechat_id": ContactKind.WECHAT_ID,
}
# Rank of each identifier kind (0 = strongest), as plain strings: the import compares kinds read
# from the database with these in its hot loop.
KIND_RANK = {str(kind.value): rank for rank, kind in enumerate(IDENTIFIER_KINDS)}
FUZZY_THRESHOLD = 0.85
MAX_FUZZY_CANDIDATES = 50

# The rules below are shared by ingest_customer (one record at a time, customers.actions) and the
# import's bulk path (customers.importing), which replays ingest_customer on a whole chunk in
# memory: one definition each of the identifiers of input, the order of matches, the lock keys,
# the external-id contact point and how incoming data is absorbed into an existing customer.


def external_id(channel: str, ref: str) -> str:
    """The normalised value of an external-id contact point: "<channel>:<id in that system>"."""
    return f"{channel}:{ref.strip()}"


def external_id_point(channel: str, ref: str) -> dict[str, Any]:
    """The verified external-id contact point of data that arrives with its id in the sending system."""
    return {
        "kind": str(ContactKind.EXTERNAL_ID.value),
        "normalized": external_id(channel, ref),
        "source": channel,
        "source_ref": ref[:100],
        "verified": True,
    }


def lock_key(kind: str, value: str) -> int:
    """The PostgreSQL advisory lock key of one identifier (`lock_identifiers`, the import's chunks)."""
    digest = hashlib.blake2b(f"identity:{kind}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def rank_matches(pairs) -> list[tuple[int, str]]:
    """(customer id, kind) pairs of identifiers held -> each customer once with its strongest matched
    kind, strongest kind first, then lowest id: the first is where incoming data lands."""
    best: dict[int, str] = {}
    for customer_id, kind in pairs:
        if customer_id not in best or KIND_RANK[kind] < KIND_RANK[best[customer_id]]:
            best[customer_id] = kind
    return sorted(best.items(), key=lambda kv: (KIND_RANK[kv[1]], kv[0]))


def fill_fields(current: dict[str, Any], cleaned: dict[str, Any], names, *, overwrite: bool) -> list[str]:
    """Absorb incoming values into `current` (a customer's values, changed in place): a field is filled
    when empty, or overwritten when `overwrite`; empty incoming values never erase. Returns the
    names of the fields that changed."""
    changed = []
    for name in names:
        if name not in cleaned:
            continue
        new, old = cleaned[name], current[name]
        if new in (None, "") or new == old:
            continue
        if old in (None, "") or overwrite:
            current[name] = new
            changed.append(name)
    return changed


def merge_custom_values(
    current: dict[str, Any], cleaned: dict[str, Any], *, overwrite: bool
) -> dict[str, Any]:
    """A customer's custom values (`current`, normalised) with the incoming ones absorbed."""
    incoming = {k: v for k, v in (cleaned.get("custom_fields") or {}).items() if v not in (None, "", [])}
    return {**current, **{k: v for k, v in incoming.items() if overwrite or k not in current}}


def stamp_sources(sources: dict | None, names, *, channel: str, at: str) -> dict:
    """Field provenance: which channel last set each changed field, and when (ISO time)."""
    stamped = dict(sources or {})
    for name in names:
        stamped[name] = {"channel": channel, "at": at}
    return stamped


def incoming_contacts(cleaned: dict[str, Any], channel: str) -> list[dict[str, Any]]:
    """The contact points incoming data carries: the primary fields (phone, email, WeChat ID), then
    its explicit contact points; added to an existing customer when it does not hold them yet."""
    points = [
        {"kind": str(kind.value), "normalized": value, "source": channel, "source_ref": "", "verified": False}
        for field, kind in PRIMARY_CONTACT_FIELDS.items()
        if (value := cleaned.get(field))
    ]
    return points + list(cleaned.get("contact_points") or [])


@dataclass(frozen=True)
class DuplicateMatch:
    customer_id: int
    matched_on: str  # a ContactKind value, or "name"
    exact: bool
    score: float
    owner_id: int | None
    owner_name: str  # "" for the public pool
    visible: bool  # may the asking user open the record?
    name: str  # the record's name, only when visible

    def describe(self) -> str:
        owner = self.owner_name or _("the public pool")
        field = (
            str(ContactKind(self.matched_on).label) if self.matched_on in ContactKind.values else _("name")
        )
        if self.visible:
            return _("Same %(field)s as %(name)s (owner: %(owner)s).") % {
                "field": field,
                "name": self.name,
                "owner": owner,
            }
        return _("Same %(field)s as an existing customer (owner: %(owner)s).") % {
            "field": field,
            "owner": owner,
        }

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["message"] = self.describe()
        if not self.visible:
            data["customer_id"] = None  # do not leak ids of records the caller may not open
        return data


def identifiers(cleaned: dict[str, Any]) -> list[tuple[str, str]]:
    """The (kind, normalised value) identifiers carried by validated customer input, strongest first
    (kinds as plain strings)."""
    found: set[tuple[str, str]] = set()
    for field, kind in PRIMARY_CONTACT_FIELDS.items():
        if cleaned.get(field):
            found.add((str(kind.value), cleaned[field]))
    for point in cleaned.get("contact_points") or []:
        if point["kind"] in KIND_RANK:
            found.add((str(point["kind"]), point["normalized"]))
    return sorted(found, key=lambda kv: (KIND_RANK[kv[0]], kv[1]))


def lock_identifiers(idents: list[tuple[str, str]]) -> None:
    """Serialise concurrent writes that carry the same identifier, until the transaction ends
    (two orders of one new buyer arriving at once must not create two customers).

    PostgreSQL: transaction-level advisory locks taken in a fixed order (no deadlocks). SQLite needs
    none: its IMMEDIATE transactions already admit one writer at a time.
    """
    if connection.vendor != "postgresql" or not idents:
        return
    lock_ids = sorted({lock_key(k, v) for k, v in idents})
    with connection.cursor() as cursor:
        for lock_id in lock_ids:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])


def exact_matches(idents: list[tuple[str, str]], *, exclude_id: int | None = None) -> list[tuple[int, str]]:
    """(customer id, matched kind) for live customers holding any identifier, strongest identifier first."""
    if not idents:
        return []
    q = Q()
    for kind, value in idents:
        q |= Q(kind=kind, normalized=value)
    rows = (
        ContactPoint.objects.filter(q, customer__deleted_at__isnull=True)
        .exclude(customer_id=exclude_id)
        .values_list("customer_id", "kind")
    )
    return rank_matches(rows)


def fuzzy_matches(
    name: str, *, kind: str, city: str = "", company_id: int | None = None, exclude_id: int | None = None
) -> list[tuple[int, float]]:
    """Strong name matches in the same city or company (homophones and 張/张 included)."""
    if not name:
        return []
    if kind == CustomerKind.COMPANY:
        key = normalize.company_name_key(name)
        pinyin = normalize.search_keys(key or name, person=False)[0]
        scope = Q()
    else:
        if not city and not company_id:
            return []  # a name alone is too weak
        key = normalize.person_name_key(name)
        pinyin = normalize.search_keys(normalize.strip_person_titles(name), person=True)[0]
        scope = Q(city=city) if city else Q()
        if company_id:
            scope = scope | Q(company_id=company_id) if city else Q(company_id=company_id)
    if not pinyin:
        return []
    candidates = (
        Customer.objects.alive()
        .filter(scope, kind=kind)
        .filter(Q(name_pinyin=pinyin) | Q(name=name))
        .exclude(pk=exclude_id)
        .values_list("id", "name")[:MAX_FUZZY_CANDIDATES]
    )
    keyer = normalize.company_name_key if kind == CustomerKind.COMPANY else normalize.person_name_key
    results = []
    for customer_id, other in candidates:
        other_key = keyer(other)
        score = 1.0 if other_key == key else 0.5 + 0.5 * fuzz.ratio(key, other_key) / 100
        if score >= FUZZY_THRESHOLD:
            results.append((customer_id, round(score, 3)))
    return sorted(results, key=lambda kv: -kv[1])


def find_duplicates(
    cleaned: dict[str, Any],
    *,
    kind: str,
    actor,
    exclude_id: int | None = None,
    name: str = "",
    city: str = "",
) -> list[DuplicateMatch]:
    """Every existing customer the input looks like, exact identifier matches first."""
    found: dict[int, tuple[str, bool, float]] = {}
    for customer_id, matched in exact_matches(identifiers(cleaned), exclude_id=exclude_id):
        found[customer_id] = (matched, True, 1.0)
    for customer_id, score in fuzzy_matches(
        cleaned.get("name") or name,
        kind=kind,
        city=cleaned.get("city") or city,
        company_id=cleaned.get("company_id"),
        exclude_id=exclude_id,
    ):
        found.setdefault(customer_id, ("name", False, score))
    if not found:
        return []
    customers = Customer.objects.filter(pk__in=found).select_related("owner")
    visible = set(Customer.objects.visible_to(actor).filter(pk__in=found).values_list("pk", flat=True))
    matches = [
        DuplicateMatch(
            customer_id=c.pk,
            matched_on=found[c.pk][0],
            exact=found[c.pk][1],
            score=found[c.pk][2],
            owner_id=c.owner_id,
            owner_name=str(c.owner) if c.owner_id else "",
            visible=c.pk in visible,
            name=c.name if c.pk in visible else "",
        )
        for c in customers
    ]
    return sorted(matches, key=lambda m: (not m.exact, -m.score, m.customer_id))


class DuplicateFound(Exception):
    """Creating (or changing) the customer would duplicate existing ones."""

    def __init__(self, matches: list[DuplicateMatch], *, blocking: bool, policy: str):
        super().__init__(f"{len(matches)} duplicate(s)")
        self.matches = matches
        self.blocking = blocking
        self.policy = policy

    def as_dict(self) -> dict[str, Any]:
        if self.blocking:
            message = _(
                "A customer with the same identifier already exists; creating another is not allowed."
            )
        else:
            message = _("This looks like an existing customer. Confirm to save it anyway.")
        return {
            "detail": message,
            "policy": self.policy,
            "can_confirm": not self.blocking,
            "duplicates": [m.as_dict() for m in self.matches],
        }
