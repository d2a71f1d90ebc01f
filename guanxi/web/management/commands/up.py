"""`guanxi up`: everything a new user needs, in one command."""

import logging
import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from guanxi.approvals.actions import install_example_flow
from guanxi.core.bootstrap import ensure_admin
from guanxi.core.log import VERBOSE_ENV
from guanxi.engagement.actions.pool import ensure_default_pool
from guanxi.engagement.fields import ensure_follow_up_types
from guanxi.sales.actions import ensure_default_pipeline


class Command(BaseCommand):
    help = (
        "Migrate, create an admin if none, load demo data if the database is empty, run web server + worker."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("GUANXI_PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("GUANXI_HOST", "127.0.0.1"))
        parser.add_argument(
            "--demo-customers", type=int, default=int(os.environ.get("GUANXI_DEMO_CUSTOMERS", "3000"))
        )
        parser.add_argument("--no-demo", action="store_true", help="Do not load demo data.")
        parser.add_argument("--no-worker", action="store_true", help="Do not start the background worker.")
        parser.add_argument("--no-serve", action="store_true", help="Set up only; do not start any server.")
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="Log every worker step (periodic sweeps included), not only start-up, errors and finished jobs.",
        )

    def handle(self, *args, port, host, demo_customers, no_demo, no_worker, no_serve, verbose, **options):
        from guanxi.customers.models import Customer

        if verbose:  # for the worker started below, and for this process's own loggers
            os.environ[VERBOSE_ENV] = "1"
            logging.getLogger().setLevel(logging.INFO)

        db = settings.DATABASES["default"]
        self.stdout.write(f"Database: {db['ENGINE'].rsplit('.', 1)[-1]} {db['NAME']}")
        call_command("migrate", interactive=False, verbosity=0)
        username, password, created = ensure_admin()
        ensure_default_pool()
        ensure_default_pipeline()
        ensure_follow_up_types()
        if not no_demo and not Customer.objects.exists():
            self.stdout.write(f"Loading demo data ({demo_customers} customers)…")
            call_command("demo", customers=demo_customers)
            install_example_flow(actor=None)  # the deal-discount approval flow, ready to try
            self._find_duplicates()
        line = f"Administrator: {username} / {password}" if password else f"Administrator: {username}"
        self.stdout.write(self.style.SUCCESS(line + ("  (new)" if created else "  (initial password)")))
        if no_serve:
            return
        worker = None
        if not no_worker:
            worker = subprocess.Popen([sys.executable, "-m", "guanxi.cli", "worker"], env=os.environ.copy())  # noqa: S603

        def stop(signum, frame):
            raise KeyboardInterrupt  # SIGTERM ends `up` like Ctrl+C: the worker is stopped too

        signal.signal(signal.SIGTERM, stop)
        try:
            call_command("serve", host=host, port=port)
        except KeyboardInterrupt:
            pass
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=15)

    def _find_duplicates(self) -> None:
        """The demo plants near-duplicates: run the detection once so the review queue shows them
        (the nightly run would only fill it the next night)."""
        from guanxi.customers.dedupe import run_batch_dedupe

        self.stdout.write("Finding duplicates in the demo data…")
        run = run_batch_dedupe()
        self.stdout.write(f"Duplicate review queue: {run.pairs_found} pairs to review.")
