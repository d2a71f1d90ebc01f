"""Batch duplicate detection over the database: the matcher's pairs into the review queue.

`run_batch_dedupe()` is an action (called by the worker's nightly task, `guanxi dedupe` and the
benchmark): it reads every live customer once, lets `matching.Matcher` (Fellegi–Sunter with EM,
blocking on normalised identifiers, pinyin and company keys) score candidate pairs, splits chains
with the matcher's clustering, and queues each surviving pair with its per-field explanation.
Pairs the data steward already decided on (merged, not a duplicate, later) are never queued again:
the pair's unique constraint keeps the old decision.

Derived data, no audit entry: the queued pairs (and the `DedupeRun` summary) are the machine's
proposals, recomputable from the customers at any time and nobody's change of record. What a person
decides about a pair is audited where it is decided: `actions.decide_duplicate` ("not a duplicate",
"later") and `actions.merge_customers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from guanxi import text as normalize
from guanxi.customers.models import (
    ContactKind,
    ContactPoint,
    Customer,
    CustomerKind,
    DedupeRun,
    DuplicateCandidate,
)
from guanxi.matching import Matcher, PersonRecord

Progress = Callable[[str, int, int], None]
CHUNK = 50_000
# The review queue takes pairs a steward should look at: a probability of at least this, or an
# identifier (phone, email) in common. Measured on 1M demo customers: below 0.9 the pairs were
# mostly different people sharing a given name and a city (赵德林 / 顾德林), i.e. queue noise.
QUEUE_MIN_SCORE = 0.9
IDENTIFIER_FIELDS = ("phone", "email")


def _records(progress: Progress | None) -> tuple[list[int], list[PersonRecord], list[tuple[int, str, str]]]:
    """Persons as matcher records (ids parallel), and companies as (id, name key, city)."""
    primary: dict[int, dict[str, str]] = {}
    points = ContactPoint.objects.filter(
        kind__in=[ContactKind.PHONE, ContactKind.EMAIL], customer__deleted_at__isnull=True
    ).order_by("customer_id", "-is_primary", "id")
    for customer_id, kind, value in points.values_list("customer_id", "kind", "normalized").iterator(CHUNK):
        primary.setdefault(customer_id, {}).setdefault(kind, value)
    companies = dict(Customer.objects.alive().filter(kind=CustomerKind.COMPANY).values_list("id", "name"))
    ids: list[int] = []
    records: list[PersonRecord] = []
    company_rows: list[tuple[int, str, str]] = []
    rows = (
        Customer.objects.alive()
        .order_by("id")
        .values_list("id", "kind", "name", "city", "province", "address", "birthday", "company_id")
    )
    total = Customer.objects.alive().count()
    for n, (pk, kind, name, city, province, address, birthday, company_id) in enumerate(rows.iterator(CHUNK)):
        if kind == CustomerKind.COMPANY:
            company_rows.append((pk, normalize.company_name_key(name), city))
            continue
        contact = primary.get(pk, {})
        ids.append(pk)
        records.append(
            PersonRecord(
                unique_id=str(pk),
                full_name=normalize.strip_person_titles(name) or None,
                dob=birthday.isoformat() if birthday else None,
                city=city or None,
                state=province or None,
                address=address or None,
                email=contact.get(ContactKind.EMAIL),
                phone=contact.get(ContactKind.PHONE),
                company=companies.get(company_id) if company_id else None,
            )
        )
        if progress and n % CHUNK == 0:
            progress("load", n, total)
    return ids, records, company_rows


def _company_pairs(rows: list[tuple[int, str, str]]) -> list[tuple[int, int, float, dict]]:
    """Companies with the same name key (有限公司 / 集团 / (北京) stripped) in the same or an unknown city."""
    by_key: dict[str, list[tuple[int, str]]] = {}
    for pk, key, city in rows:
        if key:
            by_key.setdefault(key, []).append((pk, city))
    pairs = []
    for members in by_key.values():
        if len(members) < 2 or len(members) > 50:
            continue
        for i, (a, city_a) in enumerate(members):
            for b, city_b in members[i + 1 :]:
                if city_a and city_b and city_a != city_b:
                    continue
                pairs.append((a, b, 0.95, {"company name": {"level": "same name key", "weight": 0.0}}))
    return pairs


def run_batch_dedupe(
    *, actor=None, workers: int | None = None, progress: Progress | None = None
) -> DedupeRun:
    """Scan every live customer for duplicates and fill the review queue. Writes nothing but the queue."""
    run = DedupeRun.objects.create(started_by=actor if actor is not None else None)
    ids, records, company_rows = _records(progress)
    queued: list[tuple[int, int, float, dict, int]] = []
    clusters = 0
    stats: dict[str, Any] = {"persons": len(records), "companies": len(company_rows)}
    if len(records) >= 2:
        matcher = Matcher(workers=workers).fit(records)
        pairs = matcher.predict_pairs(records)
        groups = matcher.clusters(pairs)
        cluster_of = {pos: min(ids[p] for p in group) for group in groups for pos in group}
        clusters += len(groups)
        for i, j, prob, explanation in pairs:
            identifier = any(explanation.get(f, {}).get("level") == "exact" for f in IDENTIFIER_FIELDS)
            if prob < QUEUE_MIN_SCORE and not identifier:
                continue
            if cluster_of.get(i) is not None and cluster_of.get(i) == cluster_of.get(j):
                a, b = sorted((ids[i], ids[j]))
                queued.append((a, b, prob, explanation, cluster_of[i]))
        stats.update({k: v for k, v in matcher.stats.items() if isinstance(v, int | float)})
    company_pairs = _company_pairs(company_rows)
    for a, b, prob, explanation in company_pairs:
        a, b = sorted((a, b))
        queued.append((a, b, prob, explanation, a))
    clusters += len({min(a, b) for a, b, *_rest in company_pairs})
    if progress:
        progress("queue", 0, len(queued))
    for start in range(0, len(queued), CHUNK):
        with transaction.atomic():
            DuplicateCandidate.objects.bulk_create(
                [
                    DuplicateCandidate(
                        customer_a_id=a,
                        customer_b_id=b,
                        score=round(prob, 4),
                        explanation={k: v["level"] for k, v in explanation.items() if k not in ("prior",)},
                        cluster_key=cluster,
                        run=run,
                    )
                    for a, b, prob, explanation, cluster in queued[start : start + CHUNK]
                ],
                ignore_conflicts=True,  # a pair seen before keeps its decision
                batch_size=5_000,
            )
    run.customers = len(records) + len(company_rows)
    run.pairs_compared = int(stats.get("candidate_pairs", 0)) + len(company_pairs)
    run.pairs_found = len(queued)
    run.clusters = clusters
    run.stats = stats
    run.finished_at = timezone.now()
    run.save()
    return run
