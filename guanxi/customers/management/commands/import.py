"""`guanxi import FILE`: import customers from a CSV or Excel file, with a progress bar.

Runs staging and processing in this process (no worker needed). Re-running the command after a
crash resumes the unfinished import of the same file; importing a file again creates nothing new.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from guanxi.core.models import User
from guanxi.customers import importing
from guanxi.customers.models import ImportJob, ImportMapping, ImportStatus


class Command(BaseCommand):
    help = "Import customers from a CSV or Excel file (idempotent; writes FILE.errors.csv for rejected rows)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .csv (UTF-8 / GB18030) or .xlsx / .xls file")
        parser.add_argument(
            "--mapping", help="name of a saved column mapping (default: suggested from the headers)"
        )
        parser.add_argument(
            "--update-existing",
            action="store_true",
            help="overwrite fields of existing customers (default: only fill empty fields)",
        )
        parser.add_argument(
            "--as", dest="username", help="import as this user (default: the first superuser)"
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=None,
            help="rows per transaction (default: 500 on PostgreSQL, 2000 on SQLite)",
        )
        parser.add_argument(
            "--new", action="store_true", help="do not resume an unfinished import of this file"
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        console = Console(file=self.stdout, highlight=False)
        actor = self._actor(options["username"])
        saved = None
        if options["mapping"]:
            saved = ImportMapping.objects.filter(name=options["mapping"]).first()
            if saved is None:
                names = ", ".join(ImportMapping.objects.values_list("name", flat=True)) or "-"
                raise CommandError(f"No saved mapping {options['mapping']!r} (saved: {names})")
        try:
            job = None if options["new"] else self._unfinished(path, actor)
            if job is not None:
                console.print(
                    f"Resuming import #{job.pk}: {job.processed_rows:,} of {job.total_rows:,} rows done"
                )
            else:
                job = self._stage(path, actor, saved, options, console)
            job = self._run(job, actor, options["chunk_size"], console)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages))
        except PermissionDenied:
            raise CommandError(f"{actor} may not import customers (permission customer.import)")
        self.stdout.write(
            f"created {job.created_count:,} · updated {job.updated_count:,} · "
            f"unchanged {job.unchanged_count:,} · errors {job.error_count:,}"
        )
        if job.error_count:
            report = Path(f"{path}.errors.csv")
            report.write_bytes(importing.error_report_csv(job))
            self.stdout.write(f"error report: {report}")

    def _actor(self, username: str | None) -> User:
        if username:
            actor = User.objects.filter(username=username, is_active=True).first()
            if actor is None:
                raise CommandError(f"No active user {username!r}")
            return actor
        actor = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if actor is None:
            raise CommandError("No superuser: create one with `guanxi createadmin` or pass --as USERNAME")
        return actor

    def _unfinished(self, path: Path, actor: User) -> ImportJob | None:
        sha = importing._sha256(path)
        return (
            ImportJob.objects.filter(
                file_sha256=sha,
                created_by=actor,
                status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING, ImportStatus.FAILED],
                options__origin="cli",
            )
            .exclude(options__has_key="staging")  # killed while reading the file: read it again
            .order_by("-pk")
            .first()
        )

    def _stage(self, path: Path, actor: User, saved, options, console: Console) -> ImportJob:
        with Progress(SpinnerColumn(), TextColumn("reading {task.description}"), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as bar:  # fmt: skip
            task = bar.add_task(path.name, total=None)
            job = importing.stage_import(
                path.name,
                path,
                actor=actor,
                saved_mapping=saved,
                options={"origin": "cli"},
                progress=lambda n: bar.update(task, completed=n),
            )
        mapped = ", ".join(f"{h} → {f}" for h, f in job.mapping.items()) or "-"
        ignored = [h for h in job.headers if h not in job.mapping]
        console.print(
            f"{job.total_rows:,} rows · encoding {job.encoding or 'Excel'} · columns: {mapped}",
            soft_wrap=True,
        )
        if ignored:
            console.print(f"ignored columns: {', '.join(ignored)}", soft_wrap=True)
        importing.confirm_import(
            job.pk,
            actor=actor,
            mapping=job.mapping,
            update_existing=options["update_existing"],
            enqueue=False,
        )
        return job

    def _run(self, job: ImportJob, actor: User, chunk_size: int, console: Console) -> ImportJob:
        with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]} rows/s"), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=console) as bar:  # fmt: skip
            task = bar.add_task("import", total=job.total_rows, completed=job.processed_rows, rate="-")
            start = job.processed_rows

            def show(current: ImportJob) -> None:
                elapsed = bar.tasks[task].elapsed or 0
                rate = f"{(current.processed_rows - start) / elapsed:,.0f}" if elapsed else "-"
                bar.update(task, completed=current.processed_rows, rate=rate)

            return importing.run_import(job.pk, actor=actor, chunk_size=chunk_size, progress=show)
