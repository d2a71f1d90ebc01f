"""Automation engine: events processed per second with 20 enabled rules, and one relative-time sweep.

Usage (from the repository root):

    .venv/bin/python bench/automation.py                              # 1,000,000 customers, temporary SQLite
    .venv/bin/python bench/automation.py --customers 50000
    .venv/bin/python bench/automation.py --database-url postgres://postgres@127.0.0.1:5432/test

Database: as bench/demo_data.py (for PostgreSQL the benchmark (re)creates its own database,
``guanxi_bench_automation`` by default). Set-up (not timed): migrate; ``load_demo`` customers with
orders; an administrator owning 20 enabled rules on customers — update and field-changed triggers with
conditions, most of which do not match (as in a real company: many rules, each for a few cases) and
two that act (add a tag); one relative-time rule ("30 days after the last order, window 1 day: create a
task for the owner") kept disabled until its sweep is timed.

Timed:
- ``events_per_s``: --events ``customer.updated`` events, a working day's mix of edits (default 5 %
  raise the tier to A: 12 rules judge their conditions and 2 fire; 15 % change the industry: 8 rules
  judge theirs; 80 % change a field no rule watches), processed by ``core.events.process_many`` in
  this one process, as the worker's ``process_events`` task does: delivery rows, the automation
  subscriber (20 rules: trigger, conditions in Python, firings) and every other subscriber of the
  event. ``events_firings`` counts the firings.
- ``all_firing_events_per_s``: --firing-events more events that each fire 2 rules (a firing is a run
  row, the step through the normal action with its audit entry and event): what firing costs.
- ``sweep_seconds``: ``automation.actions.sweeps.sweep_rule`` of the relative-time rule over every
  customer: the finding query (one per id range) and the claims, one QUEUED run-log row per due
  customer (``sweep_claimed``), handed to the worker. ``sweep_find_seconds`` is the finding query
  alone. ``sweep_perform_seconds``: the worker's part, performing every claim (the rule's actions,
  each in its own transaction with its run row), here in this one thread.
- ``sweep_floor_seconds``: a bare ``SELECT count(*)`` with the same WHERE clause, in the same run.
The last line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench_common import drop_postgres, start_django  # noqa: E402  (next to this script)

STARTED = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def _rules(admin) -> list:
    """20 enabled rules on customer updates (2 act) and one disabled relative-time rule."""
    from guanxi.automation.actions import rules

    made = []
    cities = ["上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆"]
    for n, city in enumerate(cities):
        made.append(rules.save_rule({
            "name": f"{city}客户升A", "object_type": "customer", "enabled": True,
            "trigger": {"type": "field_changed", "field": "tier", "to": "A"},
            "conditions": {"all": [{"field": "city", "op": "eq", "value": city},
                                   {"field": "completeness", "op": "gte", "value": 101}]},
            "actions": [{"type": "add_tag", "tag": f"升A-{n}"}]}, actor=admin))  # fmt: skip
    industries = ["金融保险", "制造业", "互联网", "教育培训", "医疗健康", "房地产", "零售", "物流运输"]
    for n, industry in enumerate(industries):
        made.append(rules.save_rule({
            "name": f"A类客户转入{industry}", "object_type": "customer", "enabled": True,
            "trigger": {"type": "updated", "fields": ["industry"]},
            "conditions": {"all": [{"field": "industry", "op": "eq", "value": industry},
                                   {"field": "tier", "op": "eq", "value": "A"}]},
            "actions": [{"type": "add_tag", "tag": f"行业变更-{n}"}]}, actor=admin))  # fmt: skip
    for n in range(2):
        made.append(rules.save_rule({
            "name": f"A类标签{n}", "object_type": "customer", "enabled": True,
            "trigger": {"type": "field_changed", "field": "tier", "to": "A"},
            "conditions": {"all": [{"field": "owner", "op": "not_empty"}]},
            "actions": [{"type": "add_tag", "tag": f"A类客户{n}"}]}, actor=admin))  # fmt: skip
    sweep_rule = rules.save_rule({
        "name": "30天未复购", "object_type": "customer", "enabled": False,
        "trigger": {"type": "relative_time", "field": "last_order_at", "days": 30, "window_days": 1},
        "conditions": {"all": [{"field": "owner", "op": "not_empty"}]},
        "actions": [{"type": "create_task", "title": "复购回访 {{ customer.name }}", "due_in_hours": 24}]},
        actor=admin)  # fmt: skip
    return made, sweep_rule


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=os.environ.get("GUANXI_DATABASE_URL", ""))
    parser.add_argument("--bench-db", default="guanxi_bench_automation")
    parser.add_argument("--events", type=int, default=2000, help="customer.updated events in the day's mix")
    parser.add_argument(
        "--tier-share", type=float, default=0.05, help="share of the mix raising the tier to A"
    )
    parser.add_argument(
        "--industry-share", type=float, default=0.15, help="share of the mix changing the industry"
    )
    parser.add_argument(
        "--firing-events", type=int, default=300, help="events that each fire 2 rules (timed apart)"
    )
    parser.add_argument("--orders-per-customer", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--drop-after", action="store_true")
    args = parser.parse_args(argv)

    vendor, _tmp = start_django(args.database_url, args.bench_db, "guanxi-bench-automation-")
    from django.core.management import call_command
    from django.db import connection, transaction

    from guanxi.automation.actions import sweeps
    from guanxi.automation.fields import Catalogue
    from guanxi.core import events
    from guanxi.core.actions import create_user, ensure_default_roles
    from guanxi.customers.events import CustomerEvent
    from guanxi.customers.models import Customer
    from guanxi.demo import load_demo

    summary: dict = {"database": vendor}
    try:
        say(f"database: {vendor}; migrating …")
        call_command("migrate", interactive=False, verbosity=0)
        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            now = time.perf_counter()
            if stage != "customers" or done == total or now - last[0] >= 10:
                last[0] = now
                say(f"load_demo: {stage} {done:,}/{total:,}")

        load_demo(
            args.customers, seed=args.seed, orders_per_customer=args.orders_per_customer, progress=progress
        )
        admin = create_user("bench_admin", password="Bench-Passw0rd-1", role=ensure_default_roles()["admin"],
                            actor=None)  # fmt: skip
        enabled, sweep_rule = _rules(admin)
        say(f"{len(enabled)} enabled rules")

        rng = random.Random(args.seed)
        ids = list(
            Customer.objects.filter(owner__isnull=False, tier="B")
            .order_by("pk")
            .values_list("pk", flat=True)[: (args.events + args.firing_events) * 5]
        )
        picked = rng.sample(ids, min(args.events + args.firing_events, len(ids)))
        mixed, all_firing = picked[: args.events], picked[args.events :]
        # The mix of a working day's edits: most change fields no rule watches (contacts, notes), some
        # change the industry (8 rules judge their conditions) and a few raise the tier to A (12 rules
        # judge theirs; 2 fire). Every event is checked against all 20 rules.
        n_tier = max(1, round(len(mixed) * args.tier_share))
        n_industry = round(len(mixed) * args.industry_share)
        tier_ids, industry_ids = mixed[:n_tier], mixed[n_tier : n_tier + n_industry]
        other_ids = mixed[n_tier + n_industry :]
        say(f"emitting {len(mixed):,} customer.updated events: {len(tier_ids):,} tier B -> A, "
            f"{len(industry_ids):,} industry, {len(other_ids):,} other fields …")  # fmt: skip
        tier_change = {"changed": ["tier"], "before": {"tier": "B"}, "after": {"tier": "A"}}
        with transaction.atomic():
            Customer.objects.filter(pk__in=tier_ids + all_firing).update(tier="A")
            Customer.objects.filter(pk__in=industry_ids).update(industry="金融保险")
            event_ids = events.emit_many(
                CustomerEvent.UPDATED,
                [(Customer(pk=pk), tier_change) for pk in tier_ids]
                + [
                    (
                        Customer(pk=pk),
                        {
                            "changed": ["industry"],
                            "before": {"industry": ""},
                            "after": {"industry": "金融保险"},
                        },
                    )
                    for pk in industry_ids
                ]  # fmt: skip
                + [
                    (
                        Customer(pk=pk),
                        {"changed": ["title"], "before": {"title": ""}, "after": {"title": "经理"}},
                    )
                    for pk in other_ids
                ],  # fmt: skip
            )
            rng.shuffle(event_ids)
            firing_ids = events.emit_many(
                CustomerEvent.UPDATED, [(Customer(pk=pk), tier_change) for pk in all_firing]
            )
        from guanxi.automation.models import RuleRun

        say("processing them in this process (one worker thread, the batch path of process_events) …")
        runs_before = RuleRun.objects.count()
        t0 = time.perf_counter()
        events.process_many(sorted(event_ids))  # as the worker's process_events task does
        process_seconds = time.perf_counter() - t0
        events_per_s = round(len(event_ids) / process_seconds, 1)
        mixed_firings = RuleRun.objects.count() - runs_before
        say(
            f"events: {len(event_ids)} in {process_seconds:.2f} s = {events_per_s}/s ({mixed_firings} firings)"
        )
        runs_before = RuleRun.objects.count()
        t0 = time.perf_counter()
        events.process_many(firing_ids)
        firing_seconds = time.perf_counter() - t0
        all_firing_per_s = round(len(firing_ids) / firing_seconds, 1) if firing_ids else None
        all_firings = RuleRun.objects.count() - runs_before
        say(f"events that each fire 2 rules: {len(firing_ids)} in {firing_seconds:.2f} s = {all_firing_per_s}/s "
            f"({all_firings} firings)")  # fmt: skip

        catalogue = Catalogue("customer")
        from django.utils import timezone

        now = timezone.now()
        qs, _group = sweeps.matching(sweep_rule, catalogue, now)
        t0 = time.perf_counter()
        floor_count = qs.order_by().count()
        floor_seconds = round(time.perf_counter() - t0, 2)
        say(f"floor: bare count with the sweep's WHERE: {floor_count:,} in {floor_seconds} s")
        t0 = time.perf_counter()
        found = sum(1 for _ in qs.order_by().values_list("pk", flat=True).iterator(chunk_size=10_000))
        find_seconds = round(time.perf_counter() - t0, 2)
        say(f"finding query (ids of every due customer): {found:,} in {find_seconds} s")
        t0 = time.perf_counter()
        stats = sweeps.sweep_rule(sweep_rule, now)
        sweep_seconds = round(time.perf_counter() - t0, 2)
        say(f"sweep: {stats} in {sweep_seconds} s")
        from guanxi.automation.actions import engine
        from guanxi.automation.models import RunStatus

        claims = list(
            RuleRun.objects.filter(rule=sweep_rule, status=RunStatus.QUEUED).values_list("pk", flat=True)
        )
        t0 = time.perf_counter()
        performed = engine.perform_queued(claims)
        perform_seconds = round(time.perf_counter() - t0, 2)
        say(f"performing the {len(claims):,} claims (the worker's part, here in one thread): {performed:,} "
            f"in {perform_seconds} s")  # fmt: skip
        t0 = time.perf_counter()
        again = sweeps.sweep_rule(sweep_rule, now)
        again_seconds = round(time.perf_counter() - t0, 2)
        say(f"second sweep at the same now (must claim nothing): {again} in {again_seconds} s")
        summary.update({
            "customers": args.customers, "rules": len(enabled), "events": len(event_ids),
            "events_per_s": events_per_s, "events_target_per_s": 2000, "events_firings": mixed_firings,
            "events_mix": {"tier_to_a": len(tier_ids), "industry": len(industry_ids), "other": len(other_ids)},
            "all_firing_events": len(firing_ids), "all_firing_events_per_s": all_firing_per_s,
            "all_firing_firings": all_firings,
            "sweep_seconds": sweep_seconds, "sweep_target_seconds": 10, "sweep_claimed": stats["due"],
            "sweep_perform_seconds": perform_seconds, "sweep_performed": performed,
            "sweep_find_seconds": find_seconds, "sweep_floor_seconds": floor_seconds, "sweep_due": floor_count,
            "second_sweep_seconds": again_seconds, "second_sweep_claimed": again["due"],
        })  # fmt: skip
    finally:
        connection.close()
        if args.drop_after and vendor == "postgresql":
            drop_postgres(args.database_url, args.bench_db)
    print(json.dumps(summary, ensure_ascii=False))
    return summary


if __name__ == "__main__":
    main()
