"""The automation engine: firing a rule on a record exactly once, with its run log.

`fire()` is the one way a rule acts. In one transaction it inserts the `RuleRun` row — unique on
(rule, object, occurrence) — and performs the steps through the normal actions with the rule's
actor, so the run row and the effects commit together: a crash before commit loses nothing (the
event is re-delivered, the sweep runs again), and a second attempt at the same occurrence stops at
the unique key (on PostgreSQL a concurrent attempt waits for the first to commit, then stops).

A step that raises rolls the firing back; the failure is then recorded as a FAILED run (in its own
transaction) and retried with back-off by `retry_due()`, from the step that failed, until it
succeeds or is DEAD after `GUANXI_AUTOMATION_MAX_ATTEMPTS`. Other rules are not held up: each
firing is its own transaction.

Loop protection: events caused by a firing carry the firing's request id (`rule:<id>:<run>`) and
its causation depth; a rule does not fire on an event it caused itself, and no rule fires on an
event deeper than `GUANXI_AUTOMATION_MAX_DEPTH`. Both cuts are written to the run log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import traceback
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from huey.contrib.djhuey import db_task

from guanxi.automation import conditions as cond
from guanxi.automation import templating
from guanxi.automation.fields import Catalogue
from guanxi.automation.models import Rule, RuleRun, RunStatus, TriggerType
from guanxi.automation.steps import STEP_TYPES, Firing
from guanxi.core.context import request_context
from guanxi.core.converters import as_id
from guanxi.core.models import Event, User
from guanxi.customers.inbound import CHANNEL_FOR_KIND
from guanxi.customization.models import CustomObject

log = logging.getLogger(__name__)
ERROR_MAX = 4000


def max_depth() -> int:
    return int(getattr(settings, "AUTOMATION_MAX_DEPTH", 4))


def max_attempts() -> int:
    return max(1, int(getattr(settings, "AUTOMATION_MAX_ATTEMPTS", 5)))


def backoff(attempts: int) -> dt.timedelta:
    base = int(getattr(settings, "AUTOMATION_RETRY_BASE_SECONDS", 60))
    return dt.timedelta(seconds=min(6 * 3600, base * 2 ** max(attempts - 1, 0)))


def rule_actor(rule: Rule) -> User:
    """The rule's owner, marked so that audit entries say the rule acted (`audit.actor_label`)."""
    actor = User.objects.select_related("role", "department").get(pk=rule.owner_id)
    if not actor.is_active:  # a rule of someone who left acts no more: its firings fail, visibly
        raise PermissionDenied(f"the owner of rule {rule.pk} is deactivated; give the rule a new owner")
    actor.automation_rule_id = rule.pk
    return actor


# --------------------------------------------------------------------------- firing


def fire(
    rule: Rule,
    obj: Any,
    catalogue: Catalogue,
    *,
    occurrence: str,
    now: dt.datetime | None = None,
    event: Event | None = None,
    seen: dict | None = None,
    actor: User | None = None,
) -> RuleRun | None:
    """Run the rule's steps on `obj` for this occurrence, at most once. Returns the run (None when
    this occurrence already fired). `actor`: the rule's actor when the caller fires it many times
    (a sweep), else it is loaded."""
    now = now or timezone.now()
    started = time.perf_counter()
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    run = RuleRun.objects.create(
                        rule=rule, version=rule.version, object_type=rule.object_type, object_id=obj.pk,
                        occurrence=occurrence[:80], event_id=event.pk if event else None,
                        status=RunStatus.SUCCEEDED, seen=seen or {}, created_at=now, updated_at=now,
                    )  # fmt: skip
            except IntegrityError:
                return None  # this occurrence fired already
            _perform(rule, run, obj, catalogue, start=0, now=now, event=event, actor=actor)
            run.duration_ms = int((time.perf_counter() - started) * 1000)
            run.save(
                update_fields=["status", "results", "resume_at", "resume_step", "duration_ms", "updated_at"]
            )
            return run
    except Exception as exc:  # noqa: BLE001  (a failing step is recorded and retried, never lost)
        return _record_failure(rule, obj, occurrence=occurrence, now=now, event=event, seen=seen, exc=exc,
                               duration_ms=int((time.perf_counter() - started) * 1000))  # fmt: skip


def _perform(rule: Rule, run: RuleRun, obj: Any, catalogue: Catalogue, *, start: int, now, event,
             actor: User | None = None) -> None:  # fmt: skip
    """Perform the steps from `start` (raises on the first failing step: the caller rolls back)."""
    actor = actor or rule_actor(rule)
    firing = Firing(rule=rule, run_id=run.pk, obj=obj, catalogue=catalogue, actor=actor, now=now,
                    variables=templating.context_for(catalogue, obj, rule_name=rule.name))  # fmt: skip
    results = list(run.results or [])
    steps = rule.actions or []
    with request_context(f"rule:{rule.pk}:{run.pk}", causation_id=event.pk if event else None,
                         causation_depth=event.depth if event else None):  # fmt: skip
        for index in range(start, len(steps)):
            step = steps[index]
            if step["type"] == "wait":
                run.status = RunStatus.WAITING
                run.resume_at = now + dt.timedelta(hours=step["hours"])
                run.resume_step = index + 1
                results.append({"step": str(index + 1), "type": "wait", "ok": True,
                                "result": {"until": run.resume_at.isoformat()}})  # fmt: skip
                break
            results += _run_step(firing, step, str(index + 1))
        else:
            run.status = RunStatus.SUCCEEDED
            run.resume_at = None
    run.results = results
    run.updated_at = timezone.now()


def _run_step(firing: Firing, step: dict, label: str) -> list[dict]:
    if step["type"] == "branch":
        group = cond.parse(step["conditions"], firing.catalogue, allow_changes=False)
        taken = cond.matches(group, firing.obj, firing.catalogue)
        results = [
            {"step": label, "type": "branch", "ok": True, "result": {"took": "then" if taken else "else"}}
        ]
        for n, inner in enumerate(step["then" if taken else "else"], start=1):
            results += _run_step(firing, inner, f"{label}.{n}")
        return results
    step_type = STEP_TYPES[step["type"]]
    if step_type.needs_customer and firing.customer is None:
        return [{"step": label, "type": step["type"], "ok": True, "result": {"skipped": "no customer"}}]
    firing.index = label
    try:
        result = step_type.perform(firing, step)
    except Exception as exc:
        exc.automation_step = label  # which step failed, for the run log
        raise
    if step_type.changes_record:  # later steps (and templates) see the new owner or value
        firing.obj.refresh_from_db()
        if firing.customer is not None and firing.customer is not firing.obj:
            firing.customer.refresh_from_db()
    return [{"step": label, "type": step["type"], "ok": True, "result": result}]


def _error_text(exc: Exception) -> str:
    step = getattr(exc, "automation_step", None)
    head = f"step {step}: " if step else ""
    return (head + "".join(traceback.format_exception_only(exc)).strip())[:ERROR_MAX]


def _record_failure(rule, obj, *, occurrence, now, event, seen, exc, duration_ms) -> RuleRun | None:
    log.warning("rule %s on %s %s failed: %s", rule.pk, rule.object_type, obj.pk, exc)
    try:
        with transaction.atomic():
            return RuleRun.objects.create(
                rule=rule, version=rule.version, object_type=rule.object_type, object_id=obj.pk,
                occurrence=occurrence[:80], event_id=event.pk if event else None, status=RunStatus.FAILED,
                seen=seen or {}, error=_error_text(exc), attempts=1, next_attempt_at=now + backoff(1),
                duration_ms=duration_ms, created_at=now, updated_at=now,
            )  # fmt: skip
    except IntegrityError:
        return None  # another worker fired this occurrence meanwhile


def _cut(rule: Rule, obj_id: int, event: Event, reason: str) -> None:
    now = timezone.now()
    try:
        with transaction.atomic():
            RuleRun.objects.create(
                rule=rule, version=rule.version, object_type=rule.object_type, object_id=obj_id,
                occurrence=f"event:{event.pk}", event_id=event.pk, status=RunStatus.CUT, error=reason,
                created_at=now, updated_at=now,
            )  # fmt: skip
    except IntegrityError:
        pass
    log.info("rule %s not fired on event %s: %s", rule.pk, event.pk, reason)


# --------------------------------------------------------------------------- retries and waits


def _continue(run_id: int, *, status: str, now: dt.datetime, cache: dict | None = None) -> bool:
    """Continue a FAILED run (retry from its failed step), a WAITING one (after its wait) or perform
    a QUEUED one (a sweep's claim). `cache` keeps catalogues and actors across a batch of runs."""
    cache = {} if cache is None else cache
    started = time.perf_counter()
    try:
        with transaction.atomic():
            run = (
                RuleRun.objects.select_for_update(skip_locked=True)
                .filter(pk=run_id, status=status)
                .select_related("rule")
                .first()
            )
            if run is None:
                return False
            rule = run.rule
            catalogue = cache.get(rule.object_type) or cache.setdefault(
                rule.object_type, Catalogue(rule.object_type)
            )
            obj = catalogue.load(run.object_id, step_refs(rule, catalogue))
            if obj is None:
                run.status, run.error, run.updated_at = RunStatus.DEAD, "the record no longer exists", now
                run.save(update_fields=["status", "error", "updated_at"])
                return True
            start = run.resume_step  # 0 for a firing that failed before any wait: it rolled back whole
            event = Event.objects.filter(pk=run.event_id).first() if run.event_id else None
            if ("actor", rule.pk) not in cache:
                cache[("actor", rule.pk)] = _actor_or_none(rule)
            _perform(
                rule, run, obj, catalogue, start=start, now=now, event=event, actor=cache[("actor", rule.pk)]
            )
            run.attempts += 1 if status in (RunStatus.FAILED, RunStatus.QUEUED) else 0
            run.error = ""
            run.next_attempt_at = None
            run.duration_ms += int((time.perf_counter() - started) * 1000)
            run.save()
            return True
    except Exception as exc:  # noqa: BLE001
        with transaction.atomic():
            run = RuleRun.objects.select_for_update().filter(pk=run_id).first()
            if run is None:
                return False
            run.attempts += 1
            run.error = _error_text(exc)
            run.updated_at = now
            if run.attempts >= max_attempts():
                run.status, run.next_attempt_at = RunStatus.DEAD, None
            else:
                run.status, run.next_attempt_at = RunStatus.FAILED, now + backoff(run.attempts)
            run.save(update_fields=["attempts", "error", "updated_at", "status", "next_attempt_at"])
        return True


def retry_due(now: dt.datetime | None = None, limit: int = 500) -> int:
    """Retry failed runs whose back-off has passed, continue runs whose wait is over and perform
    claims (QUEUED) no worker performed within their lease."""
    now = now or timezone.now()
    done = 0
    cache: dict = {}
    for status, field in (
        (RunStatus.FAILED, "next_attempt_at"), (RunStatus.WAITING, "resume_at"), (RunStatus.QUEUED, "next_attempt_at")
    ):  # fmt: skip
        ids = list(
            RuleRun.objects.filter(status=status, **{f"{field}__lte": now})
            .order_by(field)
            .values_list("pk", flat=True)[:limit]
        )
        done += sum(1 for run_id in ids if _continue(run_id, status=status, now=now, cache=cache))
    return done


PERFORM_BATCH = 100


def perform_queued(run_ids: list[int], now: dt.datetime | None = None) -> int:
    """Perform claimed runs (QUEUED): each in its own transaction with its effects, at most once
    (a run another worker holds or has done is skipped). Returns how many this call performed."""
    cache: dict = {}
    return sum(
        1
        for run_id in run_ids
        if _continue(run_id, status=RunStatus.QUEUED, now=now or timezone.now(), cache=cache)
    )


@db_task()
def perform_queued_task(run_ids: list[int]) -> int:
    return perform_queued(run_ids)


def enqueue_queued(run_ids: list[int]) -> None:
    """Hand claimed runs to the worker once the claiming transaction commits (batches of
    `PERFORM_BATCH`). A queue that is down loses nothing: `retry_due` picks them up."""

    def send() -> None:
        try:
            for i in range(0, len(run_ids), PERFORM_BATCH):
                perform_queued_task(run_ids[i : i + PERFORM_BATCH])
        except Exception:  # noqa: BLE001
            log.exception("could not queue %d automation run(s); the retry sweep will", len(run_ids))

    if run_ids:
        transaction.on_commit(send)


def retry_now(run_ids: list[int], *, actor, now: dt.datetime | None = None) -> int:
    """Retry failed or dead runs by hand (settings.manage)."""
    from guanxi.core.exceptions import require
    from guanxi.core.permissions import Perm

    require(actor, Perm.SETTINGS_MANAGE)
    now = now or timezone.now()
    run_ids = [i for i in (as_id(v) for v in run_ids[:500]) if i is not None]
    RuleRun.objects.filter(pk__in=run_ids, status=RunStatus.DEAD).update(status=RunStatus.FAILED, attempts=0)
    return sum(1 for run_id in run_ids if _continue(run_id, status=RunStatus.FAILED, now=now))


# --------------------------------------------------------------------------- events

# event name -> (object type, trigger types it can start)
EVENT_TRIGGERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "customer.created": ("customer", (TriggerType.CREATED, TriggerType.WEBHOOK)),
    "customer.updated": ("customer", (TriggerType.UPDATED, TriggerType.FIELD_CHANGED, TriggerType.WEBHOOK)),
    "customer.deleted": ("customer", (TriggerType.DELETED,)),
    "deal.created": ("deal", (TriggerType.CREATED,)),
    "deal.updated": ("deal", (TriggerType.UPDATED, TriggerType.FIELD_CHANGED)),
    "deal.stage_changed": ("deal", (TriggerType.STAGE_CHANGED,)),
    "order.created": ("order", (TriggerType.CREATED,)),
    "follow_up.logged": ("follow_up", (TriggerType.CREATED,)),
    "task.created": ("task", (TriggerType.CREATED,)),
    # Edits, completing and cancelling all carry the audited before/after (status open -> done).
    "task.updated": ("task", (TriggerType.UPDATED, TriggerType.FIELD_CHANGED)),
    "task.completed": ("task", (TriggerType.UPDATED, TriggerType.FIELD_CHANGED)),
    "task.cancelled": ("task", (TriggerType.UPDATED, TriggerType.FIELD_CHANGED)),
}
INBOUND_CHANNELS = frozenset(CHANNEL_FOR_KIND.values())
SNAPSHOT_REFS = {
    "owner_id": "owner",
    "company_id": "company_name",
    "pipeline_id": "pipeline",
    "stage_id": "stage",
}


def changes_of(event: Event) -> dict[str, tuple[Any, Any]]:
    """ref -> (before, after) from an update event's payload (custom fields as "cf.<key>")."""
    payload = event.payload or {}
    before, after = payload.get("before") or {}, payload.get("after") or {}
    result: dict[str, tuple[Any, Any]] = {}
    for key in set(before) | set(after):
        old, new = before.get(key), after.get(key)
        if key == "custom_fields":
            old, new = old or {}, new or {}
            for cf in set(old) | set(new):
                if old.get(cf) != new.get(cf):
                    result[f"cf.{cf}"] = (old.get(cf), new.get(cf))
            continue
        result[SNAPSHOT_REFS.get(key, key)] = (old, new)
    for key in payload.get("changed") or []:
        result.setdefault(SNAPSHOT_REFS.get(key, key), (None, None))
    return result


def _trigger_matches(rule: Rule, event: Event, changes: dict) -> bool:
    trigger = rule.trigger or {}
    kind = trigger.get("type")
    payload = event.payload or {}
    if kind == TriggerType.WEBHOOK:  # the channels only inbound webhook sources use
        return (payload.get("source") or payload.get("channel")) in INBOUND_CHANNELS
    if kind == TriggerType.UPDATED:
        watched = trigger.get("fields")
        return not watched or any(ref in changes for ref in watched)
    if kind == TriggerType.FIELD_CHANGED:
        ref = trigger.get("field")
        if ref not in changes:
            return False
        old, new = changes[ref]
        return ("from" not in trigger or str(old) == str(trigger["from"])) and (
            "to" not in trigger or str(new) == str(trigger["to"])
        )
    if kind == TriggerType.STAGE_CHANGED:
        return all(
            trigger.get(side) is None or payload.get(side) == trigger[side]
            for side in ("from_stage_id", "to_stage_id")
        )
    return True


def has_rules_for(event_name: str) -> bool:
    """Whether any enabled rule is about this event's object type (asked once per event name in a
    batch, before any delivery row is written)."""
    mapping = EVENT_TRIGGERS.get(event_name)
    return (
        mapping is not None
        and Rule.objects.filter(enabled=True, deleted_at__isnull=True, object_type=mapping[0]).exists()
    )


def handle_event(event: Event) -> int:
    """Fire every enabled rule this event triggers. Returns firings."""
    return handle_events([event])


def handle_events(events: list[Event]) -> int:
    """The automation subscriber: fire every enabled rule each event triggers, in event order.

    One query reads the enabled rules; each rule's conditions are parsed once; the records the
    events are about are read in one query per object type, with only the annotations the rules'
    conditions need. After a firing (which may change any record) the records still to be judged
    are read again, one at a time, so a condition always sees the current record. Each firing is
    its own savepoint and run row (`fire`), with the event's request context."""
    mapped = [(event, EVENT_TRIGGERS.get(event.name)) for event in events]
    mapped = [(event, m) for event, m in mapped if m is not None and event.object_id is not None]
    if not mapped:
        return 0
    types = {m[0] for _event, m in mapped}
    all_rules = list(
        Rule.objects.filter(enabled=True, deleted_at__isnull=True, object_type__in=types).order_by("pk")
    )
    fired = 0
    for object_type in sorted(types):
        rules = [r for r in all_rules if r.object_type == object_type]
        if rules:
            batch = [(event, m[1]) for event, m in mapped if m[0] == object_type]
            fired += _handle_type(object_type, rules, batch)
    return fired


class _Records:
    """The records a batch of events is about, read together. A firing may change its record (and,
    through the record's customer, what a deal's or order's conditions read): the fired record is
    read again before it is judged next; on other object types every record is, once."""

    def __init__(self, catalogue: Catalogue, refs: list[str], ids: list[int]) -> None:
        self.catalogue, self.refs = catalogue, refs
        self.loaded = {o.pk: o for o in catalogue.queryset(refs).filter(pk__in=ids)}
        self.dirty: set[int] = set()
        self.all_dirty = False
        self.fresh: set[int] = set()

    def get(self, pk: int, *, deleted: bool) -> Any | None:
        if deleted:  # a deleted record: read without the "alive" filter
            return self.catalogue.model.objects.filter(pk=pk).first()
        if pk in self.dirty or (self.all_dirty and pk not in self.fresh):
            self.loaded[pk] = self.catalogue.queryset(self.refs).filter(pk=pk).first()
            self.dirty.discard(pk)
            self.fresh.add(pk)
        return self.loaded.get(pk)

    def fired(self, pk: int) -> None:
        self.dirty.add(pk)
        if self.catalogue.object_type != CustomObject.CUSTOMER:
            self.all_dirty, self.fresh = True, set()


def step_refs(rule: Rule, catalogue: Catalogue) -> list[str]:
    """The related and computed fields the rule's steps read (templates, branch conditions)."""
    return catalogue.extras_named_in(json.dumps(rule.actions or [], ensure_ascii=False))


def _handle_type(object_type: str, rules: list[Rule], batch: list[tuple[Event, tuple[str, ...]]]) -> int:
    catalogue = Catalogue(object_type)
    groups: dict[int, Any] = {}
    refs: set[str] = set()
    for rule in rules:
        refs.update(step_refs(rule, catalogue))
        try:
            groups[rule.pk] = cond.parse(rule.conditions, catalogue, allow_changes=True)
            refs.update(cond.refs(groups[rule.pk]))
        except Exception:  # noqa: BLE001  (a field deleted since: that rule fails below, visibly)
            log.warning("rule %s: its conditions no longer parse", rule.pk, exc_info=True)
    records = _Records(catalogue, sorted(refs), [event.object_id for event, _types in batch])
    actors: dict[int, User | None] = {}
    fired = 0
    for event, trigger_types in batch:
        changes = changes_of(event) if TriggerType.UPDATED in trigger_types else {}
        with request_context(event.request_id or None, causation_id=event.pk, causation_depth=event.depth):
            for rule in rules:
                if rule.trigger_type not in trigger_types or not _trigger_matches(rule, event, changes):
                    continue
                if (event.request_id or "").startswith(f"rule:{rule.pk}:"):
                    _cut(rule, event.object_id, event, "a rule does not trigger itself")
                    continue
                if event.depth >= max_depth():
                    _cut(rule, event.object_id, event, f"causation depth limit ({max_depth()}) reached")
                    continue
                obj = records.get(event.object_id, deleted=rule.trigger_type == TriggerType.DELETED)
                if obj is None:
                    continue
                group = groups.get(rule.pk)
                if group is None:  # parse again to raise: the firing is recorded as failed
                    group = cond.parse(rule.conditions, catalogue, allow_changes=True)
                if not cond.matches(group, obj, catalogue, changes=changes):
                    continue
                # One inbound delivery may write several events (created, then updated): it fires once.
                webhook = rule.trigger_type == TriggerType.WEBHOOK and event.request_id
                occurrence = f"request:{event.request_id}" if webhook else f"event:{event.pk}"
                if rule.pk not in actors:
                    actors[rule.pk] = _actor_or_none(rule)
                run = fire(rule, obj, catalogue, occurrence=occurrence, event=event,
                           seen=cond.seen(group, obj, catalogue), actor=actors[rule.pk])  # fmt: skip
                if run is not None:
                    fired += 1
                    records.fired(obj.pk)
    return fired


def _actor_or_none(rule: Rule) -> User | None:
    """The rule's actor, loaded once per batch; None lets `fire` load it and record why it cannot."""
    try:
        return rule_actor(rule)
    except Exception:  # noqa: BLE001
        return None


# --------------------------------------------------------------------------- manual runs


def run_manual(
    rule_id: int, object_ids: list[int], *, actor, now: dt.datetime | None = None
) -> dict[str, int]:
    """ "Run on the selected records": the rule fires once on each selected record the actor may see
    and that matches its conditions."""
    from guanxi.core.exceptions import NotFound, require
    from guanxi.core.permissions import Perm

    require(actor, Perm.SETTINGS_MANAGE)
    rule = Rule.objects.filter(pk=rule_id, deleted_at__isnull=True).first()
    if rule is None:
        raise NotFound(rule_id)
    catalogue = Catalogue(rule.object_type)
    group = cond.parse(rule.conditions, catalogue, allow_changes=False)
    visible = catalogue.queryset()
    if hasattr(visible, "visible_to"):
        visible = visible.visible_to(actor)
    request = uuid.uuid4().hex[:12]
    stats = {"selected": len(object_ids), "matched": 0, "fired": 0}
    ids = [i for i in (as_id(v) for v in object_ids[:1000]) if i is not None]
    for obj in visible.filter(pk__in=ids).filter(cond.as_q(group, catalogue)):
        if not cond.matches(group, obj, catalogue):
            continue
        stats["matched"] += 1
        if fire(rule, obj, catalogue, occurrence=f"manual:{request}", now=now,
                seen=cond.seen(group, obj, catalogue)) is not None:  # fmt: skip
            stats["fired"] += 1
    return stats


def preview(rule: Rule, *, limit: int = 20) -> dict[str, Any]:
    """How many and which existing records match the rule's conditions now (change tests aside)."""
    catalogue = Catalogue(rule.object_type)
    group = cond.parse(rule.conditions, catalogue, allow_changes=True)
    qs = catalogue.queryset(cond.refs(group)).filter(cond.as_q(group, catalogue)).order_by("-pk")
    return {"count": qs.count(), "sample": [{"id": o.pk, "name": str(o)} for o in qs[:limit]]}


def dry_run(rule: Rule, object_id: int) -> dict[str, Any]:
    """What each step would do on one record, without doing it."""
    catalogue = Catalogue(rule.object_type)
    obj = catalogue.load(as_id(object_id)) if as_id(object_id) else None
    if obj is None:
        from guanxi.core.exceptions import NotFound

        raise NotFound(object_id)
    group = cond.parse(rule.conditions, catalogue, allow_changes=True)
    firing = Firing(rule=rule, run_id=None, obj=obj, catalogue=catalogue, actor=None, now=timezone.now(),
                    variables=templating.context_for(catalogue, obj, rule_name=rule.name))  # fmt: skip
    return {"matches": cond.matches(group, obj, catalogue), "seen": cond.seen(group, obj, catalogue),
            "steps": _describe(firing, rule.actions or [], "")}  # fmt: skip


def _describe(firing: Firing, steps: list[dict], prefix: str) -> list[dict]:
    result = []
    for n, step in enumerate(steps, start=1):
        label = f"{prefix}{n}"
        if step["type"] == "branch":
            group = cond.parse(step["conditions"], firing.catalogue, allow_changes=False)
            taken = cond.matches(group, firing.obj, firing.catalogue)
            result.append({"step": label, "type": "branch", "would": "then" if taken else "else"})
            result += _describe(firing, step["then" if taken else "else"], f"{label}.")
            continue
        describe = STEP_TYPES[step["type"]].describe
        result.append(
            {"step": label, "type": step["type"], "would": str(describe(firing, step)) if describe else ""}
        )
    return result
