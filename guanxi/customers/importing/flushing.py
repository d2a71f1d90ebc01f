"""Writing what the bulk path simulated: customers, contact points, tags, audit entries, events."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

from django.db import connection

from guanxi.core import audit
from guanxi.core.events import emit_many
from guanxi.core.models import AuditAction, User
from guanxi.customers import actions, ownership, quality
from guanxi.customers.events import CustomerEvent
from guanxi.customers.importing.state import _STATE_FIELDS, _UPDATE_COLUMNS, _Cust
from guanxi.customers.importing.writing import _columns, _insert, _json, _reserve_ids
from guanxi.customers.models import (
    ContactPoint,
    Customer,
)
from guanxi.customization.models import Tag

log = logging.getLogger(__name__)


class Flushing:
    """The writes of the runner (`_Runner`) at the end of a chunk."""

    def _flush(self) -> list[_Cust]:
        """Write what the simulated rows did: new customers, changed ones, contact points, tags,
        audit entries and events, in the order the per-row pipeline would have written them."""
        news, dirty, ops = self.news, self.dirty, self.ops
        self.news, self.dirty, self.ops = [], [], []
        if not ops:
            return []
        actor = self.actor
        now = self.now
        t = time.perf_counter()
        for cust, pk in zip(news, _reserve_ids(Customer, len(news)), strict=True):
            cust.id = pk
        for cust in dirty:
            cust.id = cust.key
        touched = news + dirty
        tag_ids = self._tag_ids({t for cust in touched for t in cust.new_tags})
        contact_cols = _columns(ContactPoint)
        tag_cols = _columns(Customer.tags.through)
        contacts, tags = [], []
        for cust in touched:
            values = cust.fields
            if isinstance(values["company_id"], _Cust):
                values["company_id"] = values["company_id"].id
            values["completeness"] = quality.completeness_of(
                SimpleNamespace(**values), {kind for kind, _v in cust.held}
            )
            for kind, norm, shown, source, source_ref, verified, primary in cust.new_contacts:
                contacts.append(
                    contact_cols.row(
                        {
                            "customer_id": cust.id,
                            "kind": kind,
                            "value": shown,
                            "normalized": norm,
                            "source": source,
                            "source_ref": source_ref,
                            "verified": verified,
                            "is_primary": primary,
                            "created_at": now,
                        }
                    )
                )
            for name in cust.new_tags:
                tags.append(tag_cols.row({"customer_id": cust.id, "tag_id": tag_ids[name]}))
            cust.new_contacts, cust.new_tags = [], []
        customer_cols = _columns(Customer, with_id=True)
        created_by = actor.pk if isinstance(actor, User) else None
        _insert(
            customer_cols,
            [
                customer_cols.row(
                    {
                        **{f: c.fields[f] for f in _STATE_FIELDS},
                        **ownership.initial_state(c.fields["owner_id"], at=now),
                        "id": c.id,
                        "created_at": now,
                        "updated_at": now,
                        "created_by_id": created_by,
                    }
                )
                for c in news
            ],
        )
        self._update_existing(dirty)
        _insert(contact_cols, contacts)
        _insert(tag_cols, tags)
        t = self._tick("flush: build + write customers, contact points", t)
        for cust in dirty:
            cust.dirty = cust.touched = False
        for cust in news:
            cust.is_new = False
        self._audit_and_events(ops)
        self._tick("flush: audit + events", t)
        return news

    def _update_existing(self, dirty: list[_Cust]) -> None:
        """UPDATE the changed existing customers (locked by _load) with their final state."""
        table = connection.ops.quote_name(Customer._meta.db_table)
        sqlite = connection.vendor != "postgresql"
        for touched in (True, False):
            custs = [c for c in dirty if c.touched == touched]
            if not custs:
                continue
            columns = [*_UPDATE_COLUMNS, "updated_at"] if touched else _UPDATE_COLUMNS
            sets = ", ".join(f"{connection.ops.quote_name(c)} = %s" for c in columns)
            params = []
            for cust in custs:
                values = dict(cust.fields)
                if values["field_sources"] is not None:
                    values["field_sources"] = _json(values["field_sources"])
                values["custom_fields"] = _json(values["custom_fields"] or {})
                values["updated_at"] = self.now
                if sqlite:
                    if values["birthday"] is not None:
                        values["birthday"] = connection.ops.adapt_datefield_value(values["birthday"])
                    values["updated_at"] = connection.ops.adapt_datetimefield_value(self.now)
                params.append([values[c] for c in columns] + [cust.id])
            with connection.cursor() as cursor:
                cursor.executemany(f"UPDATE {table} SET {sets} WHERE id = %s", params)  # noqa: S608

    def _audit_and_events(self, ops: list[tuple]) -> None:
        """One audit entry and one event per created / updated customer, as ingest_customer writes
        them (`audit.record_many` and `events.emit_many`: one bulk insert each); phones and other
        sensitive values are stored protected, as actions.snapshot does."""
        sensitive_types = self.registry.sensitive_types
        audits: dict[str, list[tuple]] = {"create": [], "update": []}
        events: dict[str, list[tuple]] = {"create": [], "update": []}
        for op, cust, before, after, payload, name in ops:
            if op == "create" and isinstance(after["company_id"], _Cust):
                after["company_id"] = after["company_id"].id
            before = actions.protect_snapshot(audit.json_value(before) if before else before, sensitive_types)
            after = actions.protect_snapshot(audit.json_value(after), sensitive_types)
            obj = Customer(pk=cust.id, name=name)
            audits[op].append((obj, before, after))
            events[op].append((obj, payload))
        audit.record_many(AuditAction.CREATE, audits["create"], actor=self.actor)
        audit.record_many(AuditAction.UPDATE, audits["update"], actor=self.actor)
        emit_many(CustomerEvent.CREATED, events["create"], actor=self.actor)
        emit_many(CustomerEvent.UPDATED, events["update"], actor=self.actor)

    @staticmethod
    def _tag_ids(names: set[str]) -> dict[str, int]:
        if not names:
            return {}
        found = dict(Tag.objects.filter(name__in=sorted(names)).values_list("name", "pk"))
        missing = sorted(names - set(found))
        if missing:
            Tag.objects.bulk_create([Tag(name=n) for n in missing], ignore_conflicts=True)
            found.update(Tag.objects.filter(name__in=missing).values_list("name", "pk"))
        return found
