"""Customer import from CSV and Excel files: upload → staging rows → worker.

Every upload is stored by the web request and read by the worker (`jobs.stage_later`,
`staging.stage_stored`). `stage_import` streams a file (CSV in UTF-8, UTF-8 with BOM, GB18030 or
Big5; .xlsx row by row with openpyxl read-only, old .xls through python-calamine; row and
unpacked-size caps) into `ImportRow`s keyed by the column headers, with the row numbers the user
sees in the spreadsheet, in short transactions. `confirm_import` fixes the column mapping (optionally saved per source) and
queues `run_import`, which sends every row through the identity pipeline of
`actions.ingest_customer` (normalise, resolve by the strongest identifier, attach or create) in
chunks: each chunk's customers, audit entries, events and row results commit together, so a
killed worker loses nothing and a re-run processes exactly the rows still pending.

Speed: per-row `ingest_customer` costs a dozen queries per row. The bulk path resolves a whole
chunk with one identifier query, simulates the pipeline row by row in memory (so rows of the same
file see each other exactly as they would one at a time) and writes the new customers, their
contact points, tags, audit entries and events with COPY (PostgreSQL) / executemany (SQLite).
Every row that would change an existing customer, or needs a company created, goes through the
real `ingest_customer` after the pending inserts are flushed, so the outcome is the per-row
outcome; `tests/customers/test_import.py` runs both paths on the same file and compares them.

Custom fields: every live customer custom field is a mapping target "cf.<key>" (`import_fields`,
suggested from its labels or key). Their cells go to `data["custom_fields"]` and are validated by
the field registry (`customfields.Registry`, built once per run) exactly as for the page and the
API. The bulk path replays ingest_customer's custom-field rules too: defaults and required fields
on creation (also of companies created for a row), fill / overwrite on merge, and unique values
against the database and the rows before it (`_load_unique`, `_taken`).

Modules (each a screen or two): `fields` (mapping targets, aliases, mappings), `reading` (files,
encodings, caps), `staging` (staging rows, job state), `jobs` (actions that queue work), `tasks`
(the worker side), `rows` (cell texts, row results), `cleaning` / `rules` / `simulation` /
`flushing` / `runner` (the per-row and bulk paths), `writing` (bulk SQL, identity locks), `state`
(a customer in memory), `running` (chunks, resumption), `report` (the error report).
"""

from __future__ import annotations

from guanxi.customers.importing.fields import (
    HEADER_ALIASES,
    IMPORT_FIELDS,
    KEY_FIELDS,
    clean_mapping,
    customer_registry,
    header_key,
    import_fields,
    is_custom_target,
    resolve_target,
    save_mapping,
    stale_targets,
    suggest_mapping,
)
from guanxi.customers.importing.jobs import confirm_import, resume_import, stage_later
from guanxi.customers.importing.reading import Table, _sha256, detect_encoding, read_table
from guanxi.customers.importing.report import describe_errors, error_report_csv, error_rows
from guanxi.customers.importing.running import chunk_size_default, run_import
from guanxi.customers.importing.staging import (
    can_resume,
    is_staging,
    is_stalled,
    jobs_visible_to,
    preview_rows,
    stage_import,
    stage_stored,
)

__all__ = [
    "HEADER_ALIASES",
    "IMPORT_FIELDS",
    "KEY_FIELDS",
    "Table",
    "_sha256",
    "can_resume",
    "chunk_size_default",
    "clean_mapping",
    "confirm_import",
    "customer_registry",
    "describe_errors",
    "detect_encoding",
    "error_report_csv",
    "error_rows",
    "header_key",
    "import_fields",
    "is_custom_target",
    "is_stalled",
    "is_staging",
    "jobs_visible_to",
    "preview_rows",
    "read_table",
    "resolve_target",
    "resume_import",
    "run_import",
    "save_mapping",
    "stage_import",
    "stage_later",
    "stage_stored",
    "stale_targets",
    "suggest_mapping",
]
