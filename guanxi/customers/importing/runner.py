"""The runner of one job: the per-row path (actions.ingest_customer itself) and the bulk path
(a chunk resolved at once and simulated row by row, see the package docstring).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from guanxi.core import settings_store
from guanxi.core.permissions import Perm
from guanxi.core.scopes import user_scope_q
from guanxi.customers import actions, identity
from guanxi.customers.actions import IngestOutcome
from guanxi.customers.importing.cleaning import RowCleaner
from guanxi.customers.importing.fields import (
    IMPORT_FIELDS,
    customer_registry,
    is_custom_target,
    resolve_target,
)
from guanxi.customers.importing.flushing import Flushing
from guanxi.customers.importing.rows import (
    CHANNEL,
    _duplicate_errors,
    _Owners,
    _permission_errors,
    _PhoneFastPath,
    _Result,
    _Row,
    _validation_errors,
)
from guanxi.customers.importing.rules import RuleChecks
from guanxi.customers.importing.simulation import Simulation
from guanxi.customers.importing.state import _PENDING_BASE, _STATE_FIELDS, _Cust
from guanxi.customers.importing.writing import _lock_identities
from guanxi.customers.models import (
    ContactPoint,
    Customer,
    CustomerKind,
    ImportJob,
    ImportRowStatus,
)
from guanxi.customization.models import FieldType

log = logging.getLogger(__name__)

MAX_IDENTITY_LOCKS = 1500


class _Runner(RowCleaner, RuleChecks, Simulation, Flushing):
    """Processes the pending rows of one job, chunk by chunk."""

    def __init__(self, job: ImportJob, *, actor) -> None:
        self.job = job
        self.actor = actor
        self.overwrite = bool(job.options.get("update_existing"))
        # One field registry for the whole run (custom fields defined when the run started).
        self.registry = customer_registry()
        # A column of a custom field renamed since confirmation follows the new key; one of a deleted
        # field stays, and its values are reported per row as ingest_customer reports them.
        self.pairs = [
            (h, resolve_target(f, self.registry) or f)
            for h, f in job.mapping.items()
            if f in IMPORT_FIELDS or is_custom_target(f)
        ]
        allowed = actor is None or actor.has_perm_code(Perm.CUSTOMER_ASSIGN)
        self.owners = _Owners() if allowed and any(f == "owner" for _h, f in self.pairs) else None
        if not allowed:
            self.pairs = [(h, f) for h, f in self.pairs if f != "owner"]
        self.can_create = actor is None or actor.has_perm_code(Perm.CUSTOMER_CREATE)
        self.can_change = actor is None or actor.has_perm_code(Perm.CUSTOMER_CHANGE)
        self.scope = user_scope_q(actor, "owner__")
        self.default_owner = actor.pk if actor is not None else None
        self.memo: dict[tuple, tuple[dict | None, dict | None]] = {}
        self.name_keys: dict[tuple[str, bool], tuple[str, str]] = {}
        self.locked: list[int] = []  # identity lock keys held until the chunk has committed
        self.phones = _PhoneFastPath()
        self.owner_checks: dict[int | None, dict | None] = {}
        self.customer_defaults = {
            f: Customer._meta.get_field(f).get_default() for f in actions.SNAPSHOT_FIELDS if f != "company_id"
        }
        self.customer_defaults["company_id"] = None
        self.new_seq = 0
        self.timings: dict[str, float] = defaultdict(float)  # seconds per phase (logged at the end)
        required = (settings_store.get("customers.required_fields_by_stage") or {}).get(
            self.customer_defaults["lifecycle_stage"]
        )
        self.stage_required = bool(required)
        # What Registry.clean gives a customer created without custom values (actions._company_for
        # creating a company, and the part of a new row's values the row does not give).
        self.custom_defaults, self.custom_default_errors = self.registry.clean({}, creating=True, actor=actor)
        self.unique_specs = {k: s for k, s in self.registry.custom.items() if s.custom.unique}
        # A unique list value is checked by containment, not equality: such rows take the per-row path.
        self.unique_slow = {k for k, s in self.unique_specs.items() if s.type == FieldType.MULTI_SELECT}
        # value -> keys of the customers holding it, per unique field (see _load_unique)
        self.unique: dict[str, dict[Any, set[int]]] = {}

    # ----------------------------------------------------------------- the per-row path

    def ingest_one(self, row: _Row) -> _Result:
        """Exactly what one call of actions.ingest_customer does with the row (the reference)."""
        if row.errors:
            errors = dict(row.errors)
            try:
                actions.clean_customer_input(row.data, actor=self.actor, partial=True, registry=self.registry)
            except ValidationError as exc:
                errors.update(_validation_errors(exc))
            return _Result(row.id, ImportRowStatus.ERROR, None, errors)
        try:
            with transaction.atomic():
                customer, outcome = actions.ingest_customer(
                    row.data,
                    actor=self.actor,
                    channel=CHANNEL,
                    external_ref=row.external_ref,
                    overwrite=self.overwrite,
                    registry=self.registry,
                )
        except ValidationError as exc:
            return _Result(row.id, ImportRowStatus.ERROR, None, _validation_errors(exc))
        except identity.DuplicateFound as exc:
            return _Result(row.id, ImportRowStatus.ERROR, None, _duplicate_errors(exc))
        except PermissionDenied as exc:
            return _Result(row.id, ImportRowStatus.ERROR, None, _permission_errors(exc))
        status = {
            IngestOutcome.CREATED: ImportRowStatus.CREATED,
            IngestOutcome.UPDATED: ImportRowStatus.UPDATED,
        }.get(outcome, ImportRowStatus.UNCHANGED)
        return _Result(row.id, status, customer.pk)

    def rows_chunk(self, rows: list[tuple[int, int, dict]]) -> list[_Result]:
        return [self.ingest_one(self.prepare(*r, clean=False)) for r in rows]

    # ----------------------------------------------------------------- the bulk path
    #
    # Rows are simulated one by one in file order against the chunk's state (customers matched in
    # the database, locked, plus the ones created or changed by earlier rows), exactly as
    # ingest_customer would treat them one at a time; the writes are collected and flushed at
    # the end of the chunk (or before a row that must take the per-row path).

    def bulk_chunk(self, raw_rows: list[tuple[int, int, dict]]) -> list[_Result]:
        t = time.perf_counter()
        rows = [self.prepare(*r, clean=True) for r in raw_rows]
        t = self._tick("prepare", t)
        wanted: dict[str, set[str]] = defaultdict(set)
        idents: set[tuple[str, str]] = set()
        for i, row in enumerate(rows):
            if len(idents) + len(row.idents) > MAX_IDENTITY_LOCKS and i:
                rows = rows[:i]  # the rest waits for the next chunk (and its own locks)
                break
            idents.update(row.idents)
            for kind, value in row.idents:
                wanted[kind].add(value)
        self.locked += _lock_identities(idents)
        t = self._tick("db: identity locks", t)
        holders = self._holders(wanted)
        t = self._tick("db: identifiers", t)
        existing = set().union(*holders.values()) if holders else set()
        custs = self._load(existing)
        visible = self._visible(existing)
        companies: dict[str, Any] = self._companies(
            {r.cleaned["company_name"] for r in rows if r.cleaned and r.cleaned.get("company_name")}
        )
        self._load_unique(rows)
        t = self._tick("db: matched customers, companies", t)
        self.now = timezone.now()
        self.ops: list[tuple] = []
        self.news: list[_Cust] = []
        self.dirty: list[_Cust] = []
        results: list[_Result] = []

        def flush() -> None:
            flushed = self._flush()
            for cust in flushed:  # placeholders become ids (keeps "lowest id first" true)
                old = cust.key
                cust.key = cust.id
                custs[cust.id] = custs.pop(old, cust)
                visible.add(cust.id)
                for ident in cust.held:
                    ids = holders.get(ident)
                    if ids is not None and old in ids:
                        ids.discard(old)
                        ids.add(cust.id)

        def real(row: _Row) -> None:
            flush()
            result = self.ingest_one(row)
            results.append(result)
            if result.customer is not None:
                fresh = self._load({result.customer})
                custs.update(fresh)
                visible.add(result.customer)
                for ident in fresh[result.customer].held:
                    if ident[0] in identity.KIND_RANK:
                        holders.setdefault(ident, set()).add(result.customer)
            name = row.cleaned.get("company_name") if row.cleaned else None
            if name:
                companies.update(self._companies({name}))
            self._load_unique(rows)  # everything is written: the database knows who holds what

        for row in rows:
            cleaned = row.cleaned
            if cleaned is None:
                results.append(_Result(row.id, ImportRowStatus.ERROR, None, row.errors))
                continue
            if self.unique_slow and not self.unique_slow.isdisjoint(cleaned.get("custom_fields") or ()):
                real(row)
                continue
            target = self._match(row.idents, holders)
            if target is None:
                error = self._creation_errors(row)
                if error:
                    results.append(_Result(row.id, ImportRowStatus.ERROR, None, error))
                    continue
                owner_id = cleaned.get("owner_id", self.default_owner)
                company = None
                if cleaned.get("company_name"):
                    company = companies.get(cleaned["company_name"])
                    if company is None:
                        if self.stage_required:  # the company itself might miss required fields
                            real(row)
                            continue
                        if self.custom_default_errors:  # create_customer rejects the new company
                            errors = {k: list(v) for k, v in self.custom_default_errors.items()}
                            results.append(_Result(row.id, ImportRowStatus.ERROR, None, errors))
                            continue
                        company = companies[cleaned["company_name"]] = self._create_company(
                            cleaned["company_name"], owner_id
                        )
                cust = self._create_person(row, owner_id, company)
                custs[cust.key] = cust
                for ident in row.idents:
                    holders.setdefault(ident, set()).add(cust.key)
                results.append(_Result(row.id, ImportRowStatus.CREATED, cust))
                continue
            if target < _PENDING_BASE and target not in visible:
                results.append(self._invisible(row, target))
                continue
            if not self.can_change:
                errors = _permission_errors(PermissionDenied(Perm.CUSTOMER_CHANGE))
                results.append(_Result(row.id, ImportRowStatus.ERROR, None, errors))
                continue
            cust = custs[target]
            merged = self._merged_custom(cust, cleaned)
            errors = self._unique_errors(merged, cust) if merged is not None else None
            if errors:
                results.append(_Result(row.id, ImportRowStatus.ERROR, None, errors))
                continue
            if self._absorb(cust, row, merged):
                for ident in row.idents:
                    holders.setdefault(ident, set()).add(cust.key)
                results.append(_Result(row.id, ImportRowStatus.UPDATED, cust))
            else:
                results.append(_Result(row.id, ImportRowStatus.UNCHANGED, cust))
        t = self._tick("simulate", t)
        flush()
        self._tick("flush", t)
        return results

    def _tick(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.timings[name] += now - started
        return now

    def _holders(self, wanted: dict[str, set[str]]) -> dict[tuple[str, str], set[int]]:
        """Which live customers hold each identifier: one query for the chunk."""
        holders: dict[tuple[str, str], set[int]] = defaultdict(set)
        if not wanted:
            return holders
        if connection.vendor == "postgresql":  # two array parameters instead of thousands of IN items
            kinds = [k for k, values in wanted.items() for _v in values]
            values = [v for vs in wanted.values() for v in vs]
            contact = connection.ops.quote_name(ContactPoint._meta.db_table)
            customer = connection.ops.quote_name(Customer._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT p.customer_id, p.kind, p.normalized FROM {contact} p "  # noqa: S608
                    f"JOIN {customer} c ON c.id = p.customer_id AND c.deleted_at IS NULL "
                    "WHERE (p.kind, p.normalized) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                    [kinds, values],
                )
                for customer_id, kind, value in cursor.fetchall():
                    holders[(kind, value)].add(customer_id)
            return holders
        q = Q()
        for kind, values in wanted.items():
            q |= Q(kind=kind, normalized__in=sorted(values))
        for customer_id, kind, value in ContactPoint.objects.filter(
            q, customer__deleted_at__isnull=True
        ).values_list("customer_id", "kind", "normalized"):
            holders[(kind, value)].add(customer_id)
        return holders

    def _load(self, ids: set[int]) -> dict[int, _Cust]:
        """The state of existing customers, locked for the rest of the chunk's transaction."""
        if not ids:
            return {}
        custs = {
            values["id"]: _Cust(values["id"], values, set(), set(), set(), is_new=False, id=values["id"])
            for values in Customer.objects.select_for_update()
            .filter(pk__in=sorted(ids))
            .order_by("pk")
            .values("id", *_STATE_FIELDS)
        }
        for customer_id, kind, value, primary in ContactPoint.objects.filter(customer_id__in=ids).values_list(
            "customer_id", "kind", "normalized", "is_primary"
        ):
            custs[customer_id].held.add((kind, value))
            if primary:
                custs[customer_id].primary_kinds.add(kind)
        for customer_id, name in Customer.tags.through.objects.filter(customer_id__in=ids).values_list(
            "customer_id", "tag__name"
        ):
            custs[customer_id].tags.add(name)
        return custs

    def _visible(self, ids: set[int]) -> set[int]:
        if self.scope is None or not ids:
            return set(ids)
        return set(Customer.objects.filter(self.scope, pk__in=ids).values_list("pk", flat=True))

    def _companies(self, names: set[str]) -> dict[str, int]:
        """actions._company_for's lookup: the newest visible live company with exactly this name."""
        if not names:
            return {}
        found: dict[str, int] = {}
        for name, pk in (
            Customer.objects.visible_to(self.actor)
            .alive()
            .filter(kind=CustomerKind.COMPANY, name__in=sorted(names))
            .values_list("name", "pk")
        ):
            found[name] = max(pk, found.get(name, 0))
        return found

    @staticmethod
    def _match(idents: list[tuple[str, str]], holders: dict[tuple[str, str], set[int]]) -> int | None:
        """identity.exact_matches()[0] against the chunk's holders: the same ranking (rank_matches)."""
        ranked = identity.rank_matches((cid, ident[0]) for ident in idents for cid in holders.get(ident, ()))
        return ranked[0][0] if ranked else None
