"""Time triggers: relative-time rules and schedules, as set-based sweeps.

Relative time ("30 days after the last order", "3 days before the contract ends", "yearly on the
birthday"): one query per rule and id range finds the records whose date plus the offset fell due
within the rule's catch-up window; each fires with the date itself as its occurrence, so the same
date never fires twice, and a new date (a new order) is a new occurrence. The window (default 3
days) keeps a newly enabled rule from firing for dates long past; a sweep that did not run for a
while catches up within it. Several workers may sweep at once: the run log's unique key decides.

Schedules (cron-like, in the company time zone): each minute slot that matches fires once per record
matching the conditions, with the slot as the occurrence.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import DateTimeField, Exists, Max, Min, OuterRef, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone
from huey import crontab

from guanxi.automation import conditions as cond
from guanxi.automation.actions import engine
from guanxi.automation.actions.rules import CRON_FIELDS
from guanxi.automation.fields import Catalogue
from guanxi.automation.models import Rule, RuleRun, RunStatus, TriggerType
from guanxi.core.bulk import jit_off
from guanxi.customization.models import FieldType

CHUNK = 50_000
QUEUED_LEASE = dt.timedelta(minutes=2)  # a claim no worker performed by then is picked up again
log = logging.getLogger(__name__)


def _bounds(start: dt.datetime | dt.date, end: dt.datetime | dt.date, spec, path: str) -> Q:
    """start <= value <= end on a column, an annotation or ISO text in custom_fields."""
    if spec.is_custom:
        as_text = (
            (lambda v: v.isoformat())
            if spec.type == FieldType.DATE
            else (lambda v: v.astimezone(dt.UTC).isoformat())
        )
        return Q(**{f"{path}__gte": as_text(start), f"{path}__lte": as_text(end)})
    return Q(**{f"{path}__gte": start, f"{path}__lte": end})


def due_filter(rule: Rule, catalogue: Catalogue, now: dt.datetime) -> tuple[Q, Any]:
    """(the Q of records due now under the rule's relative-time trigger, the date field's spec)."""
    trigger = rule.trigger
    spec = catalogue.get(trigger["field"])
    path = f"custom_fields__{spec.key}" if spec.is_custom else (spec.path or spec.ref)
    local = timezone.localtime(now)
    if trigger.get("yearly"):
        day = local.date()
        if spec.is_custom:
            return Q(**{f"{path}__endswith": f"-{day:%m-%d}"}), spec
        return Q(**{f"{path}__month": day.month, f"{path}__day": day.day}), spec
    days, window = int(trigger.get("days", 0)), int(trigger.get("window_days", 3))
    if spec.type == FieldType.DATE:
        latest = (local - dt.timedelta(hours=int(trigger.get("at_hour", 9)))).date() - dt.timedelta(days=days)
        return _bounds(latest - dt.timedelta(days=window - 1), latest, spec, path), spec
    latest = now - dt.timedelta(days=days)
    return _bounds(latest - dt.timedelta(days=window), latest, spec, path), spec


def _occurrence(rule: Rule, spec, value: Any, now: dt.datetime) -> str:
    if rule.trigger.get("yearly"):
        return f"year:{timezone.localdate(now).year}"
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).replace(microsecond=0).isoformat()
    elif isinstance(value, dt.date):
        value = value.isoformat()
    return f"at:{value}"[:80]


def matching(rule: Rule, catalogue: Catalogue, now: dt.datetime) -> tuple[QuerySet, cond.Group]:
    group = cond.parse(rule.conditions, catalogue, allow_changes=False)
    refs = cond.refs(group)
    if rule.trigger_type == TriggerType.RELATIVE_TIME:
        refs.append(rule.trigger["field"])
    qs = catalogue.queryset(refs).filter(cond.as_q(group, catalogue))
    if rule.trigger_type == TriggerType.RELATIVE_TIME:
        due, spec = due_filter(rule, catalogue, now)
        qs = qs.filter(due)
        if not spec.is_custom and not rule.trigger.get("yearly"):
            # Already fired for this date: a run of this rule created after the date fell due. (A
            # prefilter so that a repeated sweep reads nothing; the run log's unique key decides.)
            fell_due = OuterRef(spec.path or spec.ref) + dt.timedelta(days=int(rule.trigger.get("days", 0)))
            if spec.type == FieldType.DATE:
                fell_due = Cast(fell_due, DateTimeField())
            qs = qs.exclude(
                Exists(RuleRun.objects.filter(rule=rule, object_type=rule.object_type, object_id=OuterRef("pk"),
                                              created_at__gte=fell_due))
            )  # fmt: skip
    return qs, group


def sweep_rule(rule: Rule, now: dt.datetime | None = None, *, chunk: int = CHUNK) -> dict[str, int]:
    """Claim every due record of a relative-time or schedule rule (chunked by id range) and hand the
    claims to the worker, which performs them (`engine.perform_queued`).

    A claim is the run-log row itself, inserted QUEUED for each due (record, occurrence) in one
    statement per chunk; the unique key drops those claimed before, by this sweep or another. The
    actions then run as a firing does, in one transaction with the row turning SUCCEEDED, so the
    run log still says exactly what took effect: a worker killed mid-way leaves QUEUED rows, which
    the next sweep hands over again and `retry_due` picks up after `QUEUED_LEASE`."""
    now = now or timezone.now()
    catalogue = Catalogue(rule.object_type)
    qs, group = matching(rule, catalogue, now)
    spec = catalogue.get(rule.trigger["field"]) if rule.trigger_type == TriggerType.RELATIVE_TIME else None
    slot = _slot(now) if rule.trigger_type == TriggerType.SCHEDULE else None
    stats = {"due": 0, "queued": 0}
    bounds = catalogue.base().aggregate(lo=Min("pk"), hi=Max("pk"))
    if bounds["lo"] is None:
        return stats
    lease = now + QUEUED_LEASE
    # Claims a killed worker left behind (the finding query below skips records already claimed).
    left = list(RuleRun.objects.filter(rule=rule, status=RunStatus.QUEUED).values_list("pk", flat=True))
    engine.enqueue_queued(left)
    stats["queued"] = len(left)
    for start in range(bounds["lo"], bounds["hi"] + 1, chunk):
        with transaction.atomic():
            jit_off()  # compiling a chunk's query costs more than running it (0.6 s per 50,000 ids)
            records = list(qs.filter(pk__gte=start, pk__lt=start + chunk).order_by("pk"))
        if not records:
            continue
        wanted = {obj.pk: slot or _occurrence(rule, spec, catalogue.value(spec, obj), now) for obj in records}
        claimed = set(
            RuleRun.objects.filter(
                rule=rule, object_type=rule.object_type, object_id__in=list(wanted)
            ).values_list("object_id", "occurrence")
        )
        new = [obj for obj in records if (obj.pk, wanted[obj.pk]) not in claimed]
        if not new:
            continue
        with transaction.atomic():
            RuleRun.objects.bulk_create(
                [RuleRun(rule=rule, version=rule.version, object_type=rule.object_type, object_id=obj.pk,
                         occurrence=wanted[obj.pk][:80], status=RunStatus.QUEUED,
                         seen=cond.seen(group, obj, catalogue), attempts=0, next_attempt_at=lease,
                         created_at=now, updated_at=now) for obj in new],
                batch_size=1000, ignore_conflicts=True,
            )  # fmt: skip
            queued = list(
                RuleRun.objects.filter(
                    rule=rule, object_type=rule.object_type, object_id__in=[obj.pk for obj in new],
                    status=RunStatus.QUEUED, created_at=now,
                ).values_list("pk", flat=True)
            )  # fmt: skip
            engine.enqueue_queued(queued)
        stats["due"] += len(queued)
        stats["queued"] += len(queued)
    return stats


def _slot(now: dt.datetime) -> str:
    return "slot:" + timezone.localtime(now).strftime("%Y-%m-%dT%H:%M")


def schedule_matches(rule: Rule, now: dt.datetime) -> bool:
    parts = (rule.trigger.get("cron") or "").split()
    if len(parts) != 5:
        return False
    local = timezone.localtime(now).replace(tzinfo=None, second=0, microsecond=0)
    return bool(crontab(**dict(zip(CRON_FIELDS, parts, strict=True)))(local))


def sweep(
    now: dt.datetime | None = None,
    *,
    kinds: tuple[str, ...] = (TriggerType.RELATIVE_TIME, TriggerType.SCHEDULE),
) -> dict[str, Any]:
    """Every enabled time rule that is due now (the periodic task)."""
    now = now or timezone.now()
    stats: dict[str, Any] = {}
    for rule in Rule.objects.filter(enabled=True, deleted_at__isnull=True).order_by("pk"):
        if rule.trigger_type not in kinds:
            continue
        if rule.trigger_type == TriggerType.SCHEDULE and not schedule_matches(rule, now):
            continue
        try:
            stats[str(rule.pk)] = sweep_rule(rule, now)
        except Exception as exc:  # noqa: BLE001  (one broken rule must not stop the others' sweeps)
            log.exception("automation sweep of rule %s failed", rule.pk)
            stats[str(rule.pk)] = {"error": str(exc)[:200]}
    return stats
