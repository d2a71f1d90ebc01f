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
- ``events_per_s``: --events ``customer.updated`` events (a tier change, as the edit form writes it)
  processed by ``core.events.process`` in this one process, as one worker thread does: delivery rows,
  the automation subscriber (20 rules: trigger, conditions in Python, firings) and every other
  subscriber of the event.
- ``sweep_seconds``: ``automation.actions.sweeps.sweep_rule`` of the relative-time rule over every
  customer: the finding query (one per id range) and the firings it leads to (``sweep_fired``).
  ``sweep_find_seconds`` is the finding part alone.
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
    for n in range(8):
        made.append(rules.save_rule({
            "name": f"更新规则{n}", "object_type": "customer", "enabled": True,
            "trigger": {"type": "updated", "fields": ["industry"]},
            "conditions": {"any": [{"field": "tier", "op": "eq", "value": "A"}, {"field": "city", "op": "contains", "value": "市"}]},
            "actions": [{"type": "add_tag", "tag": "行业变更"}]}, actor=admin))  # fmt: skip
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
    parser.add_argument("--events", type=int, default=2000, help="customer.updated events to process")
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
            Customer.objects.filter(owner__isnull=False).values_list("pk", flat=True)[: args.events * 5]
        )
        picked = rng.sample(ids, min(args.events, len(ids)))
        say(f"emitting {len(picked):,} customer.updated events (tier B -> A) …")
        with transaction.atomic():
            Customer.objects.filter(pk__in=picked).update(tier="A")
            event_ids = events.emit_many(
                CustomerEvent.UPDATED,
                [
                    (Customer(pk=pk), {"changed": ["tier"], "before": {"tier": "B"}, "after": {"tier": "A"}})
                    for pk in picked
                ],
            )
        say("processing them in this process (one worker thread) …")
        t0 = time.perf_counter()
        for event_id in event_ids:
            events.process(event_id)
        process_seconds = time.perf_counter() - t0
        events_per_s = round(len(event_ids) / process_seconds, 1)
        say(f"events: {len(event_ids)} in {process_seconds:.2f} s = {events_per_s}/s")

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
        t0 = time.perf_counter()
        again = sweeps.sweep_rule(sweep_rule, now)
        again_seconds = round(time.perf_counter() - t0, 2)
        say(f"second sweep at the same now (must fire nothing): {again} in {again_seconds} s")
        summary.update({
            "customers": args.customers, "rules": len(enabled), "events": len(event_ids),
            "events_per_s": events_per_s, "events_target_per_s": 2000,
            "sweep_seconds": sweep_seconds, "sweep_target_seconds": 10, "sweep_fired": stats["fired"],
            "sweep_find_seconds": find_seconds, "sweep_floor_seconds": floor_seconds, "sweep_due": floor_count,
            "second_sweep_seconds": again_seconds, "second_sweep_fired": again["fired"],
        })  # fmt: skip
    finally:
        connection.close()
        if args.drop_after and vendor == "postgresql":
            drop_postgres(args.database_url, args.bench_db)
    print(json.dumps(summary, ensure_ascii=False))
    return summary


if __name__ == "__main__":
    main()
