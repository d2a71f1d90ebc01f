"""The bulk path's simulation of ingest_customer on the in-memory state: new customers, companies,
contact points, tags and the absorption of a row into an existing customer.
"""

from __future__ import annotations

import logging
from typing import Any

from guanxi import text as normalize
from guanxi.core import audit
from guanxi.customers import actions, identity
from guanxi.customers.importing.rows import _PRIMARY_KINDS, CHANNEL, MEMO_LIMIT, _Row
from guanxi.customers.importing.state import _PENDING_BASE, _Cust
from guanxi.customers.models import (
    Channel,
    CustomerKind,
)

log = logging.getLogger(__name__)


class Simulation:
    """What ingest_customer would write, collected in memory by the runner (`_Runner`)."""

    def _keys(self, name: str, person: bool) -> tuple[str, str]:
        """normalize.search_keys with a cache as large as an import needs (its own holds 65,536)."""
        key = (name, person)
        keys = self.name_keys.get(key)
        if keys is None:
            if len(self.name_keys) > MEMO_LIMIT:
                self.name_keys.clear()
            keys = self.name_keys[key] = normalize.search_keys(name, person=person)
        return keys

    def _new_cust(self, values: dict[str, Any]) -> _Cust:
        self.new_seq += 1
        pinyin, initials = self._keys(values["name"], values["kind"] == CustomerKind.PERSON)
        values["name_pinyin"], values["name_initials"] = pinyin[:400], initials[:100]
        values["field_sources"] = None
        cust = _Cust(_PENDING_BASE + self.new_seq, values, set(), set(), set(), is_new=True)
        self.news.append(cust)
        return cust

    def _created(self, cust: _Cust, source: str) -> None:
        """The audit entry and event actions._create writes for a new customer."""
        payload = {"owner_id": cust.fields["owner_id"], "source": source}
        self.ops.append(("create", cust, None, cust.snapshot(), payload, cust.fields["name"]))

    def _create_company(self, name: str, owner_id: int | None) -> _Cust:
        """actions._company_for creating a company: create_customer({kind, name, owner_id}) → _create."""
        values = dict(self.customer_defaults)
        values.update(kind=CustomerKind.COMPANY, name=name, owner_id=owner_id, source=Channel.MANUAL)
        values["custom_fields"] = dict(self.custom_defaults)
        cust = self._new_cust(values)
        self._hold(cust, {}, values["custom_fields"])
        self._created(cust, Channel.MANUAL)
        return cust

    def _create_person(self, row: _Row, owner_id: int | None, company: Any) -> _Cust:
        """actions._create for a row that matched nobody (contact points as _apply_contacts adds them)."""
        cleaned = row.cleaned
        values = dict(self.customer_defaults)
        for name in actions.SNAPSHOT_FIELDS:
            if name in cleaned and name != "owner_id":
                values[name] = cleaned[name]
        values["source"] = CHANNEL
        values["owner_id"] = owner_id
        values["company_id"] = company
        values["custom_fields"] = row.custom_new if row.custom_new is not None else {}
        cust = self._new_cust(values)
        self._hold(cust, {}, values["custom_fields"])
        wanted: dict[tuple[str, str], dict] = {}
        for point in cleaned.get("contact_points") or []:
            wanted[(point["kind"], point["normalized"])] = point
        for (kind, norm), point in wanted.items():
            self._add_contact(
                cust, kind, norm, point["source"], point["source_ref"], point["verified"], row.display
            )
        for name, kind in _PRIMARY_KINDS.items():
            if cleaned.get(name):
                self._add_contact(cust, kind, cleaned[name], CHANNEL, "", False, row.display)
        for tag in cleaned.get("tags") or []:
            cust.tags.add(tag)
            cust.new_tags.append(tag)
        self._created(cust, CHANNEL)
        return cust

    @staticmethod
    def _add_contact(
        cust: _Cust, kind: str, norm: str, source: str, ref: str, verified: bool, display: dict[str, str]
    ) -> None:
        shown = display.get(norm) if kind == "phone" else norm
        if shown is None:
            shown = actions.display_contact(kind, norm)
        cust.held.add((kind, norm))
        cust.new_contacts.append((kind, norm, shown, source, ref, verified, kind not in cust.primary_kinds))
        cust.primary_kinds.add(kind)

    def _absorb(self, cust: _Cust, row: _Row, merged_custom: dict[str, Any] | None) -> bool:
        """actions._absorb on the in-memory state; returns whether anything changed.
        `merged_custom`: the customer's new custom values (`_merged_custom`), None if unchanged."""
        cleaned = row.cleaned
        before = cust.snapshot()
        fields = cust.fields
        changed = identity.fill_fields(fields, cleaned, actions.ABSORBED_FIELDS, overwrite=self.overwrite)
        if merged_custom is not None:
            self._hold(cust, self.registry.normalize_stored(fields["custom_fields"] or {}), merged_custom)
            fields["custom_fields"] = merged_custom
            changed.append("custom_fields")
        if changed:
            fields["field_sources"] = identity.stamp_sources(
                fields["field_sources"], changed, channel=CHANNEL, at=self.now.isoformat()
            )
            if "name" in changed or "kind" in changed:
                pinyin, initials = self._keys(fields["name"], fields["kind"] == CustomerKind.PERSON)
                fields["name_pinyin"], fields["name_initials"] = pinyin[:400], initials[:100]
            cust.touched = True
        for tag in cleaned.get("tags") or []:
            if tag not in cust.tags:
                cust.tags.add(tag)
                cust.new_tags.append(tag)
        for point in identity.incoming_contacts(cleaned, CHANNEL):
            if (point["kind"], point["normalized"]) not in cust.held:
                self._add_contact(
                    cust,
                    point["kind"],
                    point["normalized"],
                    point.get("source") or CHANNEL,
                    point.get("source_ref", ""),
                    point.get("verified", False),
                    row.display,
                )
        b, a = audit.diff(before, cust.snapshot())
        if not a:
            return False
        if not cust.is_new and not cust.dirty:
            cust.dirty = True
            self.dirty.append(cust)
        payload = {"changed": sorted(a), "channel": CHANNEL}
        self.ops.append(("update", cust, b, a, payload, fields["name"]))
        return True
