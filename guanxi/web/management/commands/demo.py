"""`guanxi demo`: load the demo organisation and N realistic customers (with a progress bar)."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

STAGE_LABELS = {
    "organisation": "Organisation",
    "customers": "Customers",
    "analyze": "Statistics",
}


class Command(BaseCommand):
    help = (
        "Load demo data: a sales organisation (departments, roles, users sharing one password) and "
        "N customers with contact points, tags and orders. Safe to run again: the organisation is "
        "reused and only customers are added."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=3000, help="number of customers (default 3000)")
        parser.add_argument(
            "--orders-per-customer", type=float, default=2.0, help="mean orders per customer (default 2)"
        )
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument("--password", help="password of the demo users (default: random, printed)")

    def handle(self, *args, customers, orders_per_customer, seed, password, **options):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Table

        from guanxi.core.models import User
        from guanxi.demo import load_demo

        if customers < 0:
            raise CommandError("--customers must not be negative")
        if orders_per_customer < 0:
            raise CommandError("--orders-per-customer must not be negative")
        console = Console(file=getattr(self.stdout, "_out", sys.stdout), highlight=False)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(STAGE_LABELS.get(stage, stage), total=total)
                bar.update(tasks[stage], completed=done, total=total)

            result = load_demo(
                customers,
                seed=seed,
                orders_per_customer=orders_per_customer,
                progress=progress,
                password=password,
            )

        console.print(
            f"Loaded {result['customers']:,} customers, {result['contact_points']:,} contact points and "
            f"{result['orders']:,} orders in {result['seconds']:.1f} s."
        )
        users = User.objects.filter(username__in=result["users"]).select_related("role", "department")
        by_name = {u.username: u for u in users}
        table = Table(title="Demo users")
        for heading in ("Username", "Name", "Role", "Department"):
            table.add_column(heading)
        for username in result["users"]:
            user = by_name.get(username)
            if user is not None:
                table.add_row(
                    user.username,
                    user.display_name,
                    str(user.role or ""),
                    str(user.department or ""),
                )
        console.print(table)
        if result["password"]:
            console.print(f"Password of the demo users: {result['password']}")
        else:
            console.print("The demo users existed already; their passwords were not changed.")
