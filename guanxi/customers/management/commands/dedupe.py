"""`guanxi dedupe`: find duplicate people, in a CSV file (no database needed) or in the database."""

import json

from django.core.management.base import BaseCommand, CommandError

from guanxi.customers.dedupe import run_batch_dedupe
from guanxi.matching import Matcher, dedupe_csv


class Command(BaseCommand):
    help = (
        "With --csv FILE --out PAIRS.csv: match the people in any CSV (columns unique_id, first_name, surname, "
        "full_name, dob, city, address, postcode, state, email, phone, company, national_id; others ignored) and "
        "write unique_id_l,unique_id_r,score for every pair judged the same person. Without --csv: scan the "
        "database's customers and fill the duplicate review queue."
    )

    def add_arguments(self, parser):
        parser.add_argument("--csv", help="input CSV of people (UTF-8, UTF-8-BOM or GB18030)")
        parser.add_argument("--out", help="output CSV of matched pairs (with --csv)")
        parser.add_argument(
            "--threshold", type=float, help="match probability cut-off (default: chosen by the model)"
        )
        parser.add_argument("--workers", type=int, help="comparison processes (default: one per core)")

    def handle(self, *args, csv, out, threshold, workers, **options):
        if csv:
            if not out:
                raise CommandError("--out is required with --csv")
            try:
                stats = dedupe_csv(
                    csv, out, threshold=threshold, matcher=Matcher(workers=workers) if workers else None
                )
            except (OSError, ValueError) as exc:
                raise CommandError(str(exc)) from exc
            summary = {
                k: stats[k] for k in ("records", "candidate_pairs", "predicted_pairs", "clusters", "seconds")
            }
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
            return
        run = run_batch_dedupe(workers=workers)
        self.stdout.write(
            json.dumps(
                {"customers": run.customers, "pairs_compared": run.pairs_compared, "pairs_found": run.pairs_found,
                 "clusters": run.clusters, "run": run.pk}
            )
        )  # fmt: skip
