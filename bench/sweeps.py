"""Time the periodic sweeps (public-pool reclaim, overdue tasks) on a fresh database of demo customers.

Usage (from the repository root):

    .venv/bin/python bench/sweeps.py                              # 1,000,000 customers, temporary SQLite
    .venv/bin/python bench/sweeps.py --customers 50000
    .venv/bin/python bench/sweeps.py --database-url postgres://postgres@127.0.0.1:5432/test

Database: as bench/demo_data.py. For PostgreSQL the URL names the *server*; the benchmark (re)creates
its own database, ``guanxi_bench_sweeps`` by default (--bench-db), never the URL's own database nor
``postgres``/``template0``/``template1``/``test``. Without a URL a temporary SQLite file is used.

Set-up (not timed): migrate; load customers with ``guanxi.demo.load_demo`` (no orders by default:
the sweeps do not read them unless --no-deal-days is given); two pools (the default pool, open to
all, 30 days without follow-up, 60 for tier A; and a 华南销售组 pool, 30 days, 20 for tier C); for
owned customers ``owned_since = created_at`` and ``last_follow_up_at`` spread so that about
--due-share of them are past 30 days; open tasks for about --task-share of the owned customers, about
--overdue-share of all customers with an overdue one. Then ANALYZE (VACUUM ANALYZE on PostgreSQL).

Timed: ``guanxi.engagement.actions.reclaim.reclaim_sweep(now)`` and ``guanxi.engagement.sweeps.overdue_sweep(now)``
(reported as null if that module is missing), each once, then each a second time at the same
``now`` to show that a repeated run touches nothing. Progress goes to stderr; the last line on stdout
is one JSON object with at least: customers, reclaim_seconds, overdue_seconds, rows_touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def _shift(vendor: str, days_sql: str) -> str:
    """SQL for `now` (one %s parameter) plus `days_sql` days (negative: in the past)."""
    if vendor == "postgresql":
        return f"(%s::timestamptz + make_interval(days => ({days_sql})::int))"
    return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, ({days_sql}) || ' days')"


def _now_param(vendor: str, now):
    import datetime as dt

    return now if vendor == "postgresql" else now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def prepare(vendor: str, now, *, due_share: float, task_share: float, overdue_share: float) -> dict:
    """Follow-up dates, pools and tasks, set-based (this is set-up, not what is measured)."""
    from django.db import connection

    from guanxi.core.models import Department
    from guanxi.customers.models import Customer
    from guanxi.engagement.models import Pool, Task

    q = connection.ops.quote_name
    customers, tasks = q(Customer._meta.db_table), q(Task._meta.db_table)
    greatest = "GREATEST" if vendor == "postgresql" else "MAX"
    due_permille = round(due_share * 1000)
    days_ago = f"CASE WHEN (id * 7919) %% 1000 < {due_permille} THEN 31 + id %% 60 ELSE id %% 27 END"
    say("set-up: owned_since and last_follow_up_at …")
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {customers} SET owned_since = created_at, "  # noqa: S608
            f"last_follow_up_at = {greatest}(created_at, {_shift(vendor, f'-({days_ago})')}) "
            "WHERE owner_id IS NOT NULL",
            [_now_param(vendor, now)],
        )
        touched = cur.rowcount
    default = Pool.objects.create(
        name="公共公海", is_default=True, no_follow_up_days=30, days_by_tier={"A": 60}, warn_days=3
    )
    south = Pool.objects.create(name="华南公海", no_follow_up_days=30, days_by_tier={"C": 20}, warn_days=3)
    south.departments.set(Department.objects.filter(name="华南销售组"))

    task_permille, overdue_permille = round(task_share * 1000), round(overdue_share * 1000)
    due_days = f"CASE WHEN (id * 31) %% 1000 < {overdue_permille} THEN -(1 + id %% 5) ELSE 1 + id %% 14 END"
    say("set-up: open tasks …")
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {tasks} (title, description, owner_id, customer_id, due_at, priority, status, "  # noqa: S608
            f"source, created_at) SELECT %s, '', owner_id, id, {_shift(vendor, due_days)}, 2, 'open', 'manual', %s "
            f"FROM {customers} WHERE owner_id IS NOT NULL AND (id * 31) %% 1000 < {task_permille}",
            ["回访客户", _now_param(vendor, now), _now_param(vendor, now)],
        )
        task_count = cur.rowcount
        say("set-up: ANALYZE …")
        if vendor == "postgresql":
            for table in (customers, tasks):
                cur.execute(f"VACUUM ANALYZE {table}")
        else:
            cur.execute("ANALYZE")
    overdue = Task.objects.filter(status="open", due_at__lt=now).count()
    return {
        "owned_customers": touched,
        "tasks": task_count,
        "overdue_tasks": overdue,
        "pools": [default.pk, south.pk],
    }


def bare_due_count(vendor: str, reclaim_actions, now) -> dict:
    """Floor for finding the work: count the due customers of every pool with the sweep's own pool
    map and WHERE (`due_queryset`, all rules), without locking or writing anything."""
    started, due = time.perf_counter(), 0
    pools = reclaim_actions.PoolMap.load()
    departments = pools.departments_by_pool()
    for pool in pools.pools.values():
        members = departments.get(pool.pk, [])
        if not members and pool.pk != pools.default_id:
            continue
        owners = reclaim_actions._owners_of(pool.pk, members, pools.default_id)
        due += reclaim_actions.due_queryset(pool, owners, now).count()
    return {"due": due, "seconds": round(time.perf_counter() - started, 2)}


def reclaim_write_floor(now) -> dict[str, float]:
    """Floor for the writes (PostgreSQL): the customer rows, ownership-history rows, audit entries and
    events the reclaim wrote, COPYed into index-identical empty tables (`bench_common.copy_floor`)."""
    from bench_common import copy_floor

    from guanxi.core.models import AuditEntry, Event
    from guanxi.customers.models import Customer
    from guanxi.engagement.models import OwnershipChange

    def table(model) -> str:
        return model._meta.db_table

    return copy_floor(
        {
            table(Customer): (
                f"SELECT * FROM {table(Customer)} WHERE updated_at = %s AND owner_id IS NULL",
                [now],
            ),
            table(OwnershipChange): (
                f"SELECT * FROM {table(OwnershipChange)} WHERE reason = 'reclaimed'",
                [],
            ),
            table(AuditEntry): (
                f"SELECT * FROM {table(AuditEntry)} WHERE actor_label = 'system' AND after ? 'pool_id'",
                [],
            ),
            table(Event): (f"SELECT * FROM {table(Event)} WHERE name = 'customer.assigned'", []),
        }
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("GUANXI_DATABASE_URL", ""),
        help="postgres://... (server for the benchmark database) or sqlite:///path (new file). "
        "Default: $GUANXI_DATABASE_URL, else a temporary SQLite file.",
    )
    parser.add_argument("--bench-db", default="guanxi_bench_sweeps", help="PostgreSQL database to (re)create")
    parser.add_argument(
        "--chunk", type=int, default=50_000, help="customers per reclaim statement (id range)"
    )
    parser.add_argument("--due-share", type=float, default=0.10, help="owned customers past 30 days")
    parser.add_argument("--task-share", type=float, default=0.20, help="customers with an open task")
    parser.add_argument("--overdue-share", type=float, default=0.05, help="customers with an overdue task")
    parser.add_argument("--orders-per-customer", type=float, default=0.0)
    parser.add_argument(
        "--no-deal-days", type=int, default=None, help="also run the no-deal rule (needs orders)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--drop-after", action="store_true", help="drop the PostgreSQL benchmark database")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (SQLite file)")
    args = parser.parse_args(argv)

    url = args.database_url
    vendor, tmp = start_django(url, args.bench_db, "guanxi-bench-sweeps-")
    from django.core.management import call_command
    from django.utils import timezone

    from guanxi.demo import load_demo
    from guanxi.engagement.actions import reclaim as reclaim_actions
    from guanxi.engagement.models import Pool

    try:
        from guanxi.engagement.sweeps import overdue_sweep
    except ImportError:
        overdue_sweep = None

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

        loaded = load_demo(
            args.customers, seed=args.seed, orders_per_customer=args.orders_per_customer, progress=progress
        )
        now = timezone.now()
        setup = prepare(
            vendor,
            now,
            due_share=args.due_share,
            task_share=args.task_share,
            overdue_share=args.overdue_share,
        )
        if args.no_deal_days:
            Pool.objects.update(no_deal_days=args.no_deal_days)

        count_floor = bare_due_count(vendor, reclaim_actions, now)
        say(f"floor: a bare count of the due customers with the sweep's WHERE: {count_floor}")
        say("reclaim sweep …")
        t0 = time.perf_counter()
        reclaim = reclaim_actions.reclaim_sweep(now=now, chunk=args.chunk)
        reclaim_seconds = round(time.perf_counter() - t0, 2)
        say(f"reclaim sweep: {reclaim_seconds}s {reclaim}")
        write_floor = reclaim_write_floor(now) if vendor == "postgresql" else None
        if write_floor is not None:
            say(f"floor: COPY of the rows the reclaim wrote into index-identical empty tables: {write_floor}")

        overdue, overdue_seconds = None, None
        if overdue_sweep is not None:
            say("overdue sweep …")
            t0 = time.perf_counter()
            overdue = overdue_sweep(now=now)
            overdue_seconds = round(time.perf_counter() - t0, 2)
            say(f"overdue sweep: {overdue_seconds}s {overdue}")
        else:
            say("guanxi.engagement.sweeps.overdue_sweep not found: overdue not measured")

        say("second runs at the same now (must touch nothing) …")
        t0 = time.perf_counter()
        reclaim_again = reclaim_actions.reclaim_sweep(now=now, chunk=args.chunk)
        reclaim_again_seconds = round(time.perf_counter() - t0, 2)
        overdue_again, overdue_again_seconds = None, None
        if overdue_sweep is not None:
            t0 = time.perf_counter()
            overdue_again = overdue_sweep(now=now)
            overdue_again_seconds = round(time.perf_counter() - t0, 2)

        def overdue_rows(stats: dict | None) -> int:
            return (stats or {}).get("reminded_tasks", 0) + (stats or {}).get("escalated_tasks", 0)

        summary.update(
            {
                "customers": loaded["customers"],
                "owned_customers": setup["owned_customers"],
                "tasks": setup["tasks"],
                "overdue_tasks": setup["overdue_tasks"],
                "chunk": args.chunk,
                "reclaimed": reclaim["reclaimed"],
                "owners_warned": reclaim["warnings_sent"],
                "reclaim_statements": reclaim["statements"],
                "overdue": overdue,
                "second_run": {
                    "reclaimed": reclaim_again["reclaimed"],
                    "warnings_sent": reclaim_again["warnings_sent"],
                    "overdue_rows": overdue_rows(overdue_again) if overdue_again is not None else None,
                    "reclaim_seconds": reclaim_again_seconds,
                    "overdue_seconds": overdue_again_seconds,
                },
                "load_seconds": loaded["seconds"],
                "floor_due_count": count_floor,
                "floor_reclaim_write_seconds": write_floor,
                "floor_reclaim_write_total_seconds": round(sum(write_floor.values()), 2)
                if write_floor
                else None,
                "reclaim_seconds": reclaim_seconds,
                "overdue_seconds": overdue_seconds,
                "rows_touched": reclaim["reclaimed"] + overdue_rows(overdue),
            }
        )
    finally:
        from django.db import connections

        connections.close_all()
        if vendor == "postgresql" and args.drop_after:
            drop_postgres(url, args.bench_db)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(summary, ensure_ascii=False))
    return summary


if __name__ == "__main__":
    main()
