"""The customer rules the bulk path replays before writing: creation errors, owners, custom
field defaults, required and unique values.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _

from guanxi.core.permissions import Perm
from guanxi.customers import actions, identity, quality
from guanxi.customers.importing.rows import (
    _PRIMARY_KINDS,
    _duplicate_errors,
    _permission_errors,
    _Result,
    _Row,
    _validation_errors,
)
from guanxi.customers.importing.state import _Cust
from guanxi.customers.models import (
    Customer,
    ImportRowStatus,
)
from guanxi.customization import registry as customfields

log = logging.getLogger(__name__)


class RuleChecks:
    """Checks of the runner (`_Runner`) that ingest_customer / create_customer would make."""

    def _creation_errors(self, row: _Row) -> dict[str, list[str]] | None:
        """What ingest_customer / _create would reject before writing a new customer."""
        cleaned = row.cleaned
        errors = {} if cleaned.get("name") else {"name": [_("This field is required.")]}
        errors.update(self._creation_custom(row))
        if errors:
            return errors
        if not self.can_create:
            return _permission_errors(PermissionDenied(Perm.CUSTOMER_CREATE))
        owner_id = cleaned.get("owner_id", self.default_owner)
        if owner_id not in self.owner_checks:
            try:
                actions._check_owner_change(self.actor, owner_id, self.default_owner)
                self.owner_checks[owner_id] = None
            except PermissionDenied as exc:
                self.owner_checks[owner_id] = _permission_errors(exc)
            except ValidationError as exc:
                self.owner_checks[owner_id] = _validation_errors(exc)
        if self.owner_checks[owner_id]:
            return self.owner_checks[owner_id]
        if self.stage_required:
            values = {
                f: cleaned.get(f, self.customer_defaults.get(f))
                for f in quality.REQUIRABLE
                if f not in actions.PRIMARY_CONTACT_FIELDS
            }
            values["owner_id"] = owner_id
            values["company_id"] = 1 if cleaned.get("company_name") else None  # found or created
            kinds = {kind for kind, _value in self._contact_specs(cleaned)}
            errors = quality.stage_requirement_errors(
                values, kinds, self.customer_defaults["lifecycle_stage"]
            )
            if errors:
                return errors
        return None

    # -- custom fields

    def _creation_custom(self, row: _Row) -> dict[str, list[str]]:
        """Registry.clean(values, creating=True) as ingest_customer calls it before creating: the row's
        (already valid) values, then defaults or required errors, then unique values. Sets the
        values the new customer gets on the row."""
        given = row.cleaned.get("custom_fields") or {}
        values = dict(given)
        errors: dict[str, list[str]] = {}
        for key in self.registry.custom:
            if key in values:
                continue
            missing = self.custom_default_errors.get(f"custom_fields.{key}")
            if missing:
                errors[f"custom_fields.{key}"] = list(missing)
            elif key in self.custom_defaults:
                values[key] = self.custom_defaults[key]
        for key in sorted(given):
            if key in self.unique_specs and self._taken(key, given[key], None):
                errors.setdefault(f"custom_fields.{key}", []).append(
                    _("Another record already has this value.")
                )
        row.custom_new = values
        return errors

    def _merged_custom(self, cust: _Cust, cleaned: dict[str, Any]) -> dict[str, Any] | None:
        """actions._absorb's custom values: filled in (or overwritten); None when nothing changes."""
        if not any(v not in (None, "", []) for v in (cleaned.get("custom_fields") or {}).values()):
            return None
        stored = cust.fields["custom_fields"] or {}
        current = self.registry.normalize_stored(stored)
        merged = identity.merge_custom_values(current, cleaned, overwrite=self.overwrite)
        return merged if merged != stored else None

    def _unique_errors(self, merged: dict[str, Any], cust: _Cust) -> dict[str, list[str]] | None:
        """actions._absorb's check: a unique value it writes must not be held by another customer."""
        if not self.unique_specs:
            return None
        current = self.registry.normalize_stored(cust.fields["custom_fields"] or {})
        taken = {
            f"custom_fields.{k}": [_("Another record already has this value.")]
            for k, v in sorted(merged.items())
            if current.get(k) != v and k in self.unique_specs and self._taken(k, v, cust.key)
        }
        return taken or None

    def _taken(self, key: str, value: Any, exclude: int | None) -> bool:
        """Registry.value_taken against the chunk's state (see _load_unique)."""
        try:
            holders = self.unique.get(key, {}).get(value)
        except TypeError:  # not hashable: cannot be a value of a unique field
            return False
        return bool(holders) and any(h != exclude for h in holders)

    def _hold(self, cust: _Cust, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Keep the holders of unique values true when a customer's custom values change."""
        for key in self.unique_specs:
            old, new = before.get(key), after.get(key)
            if old == new:
                continue
            if old is not None:
                with contextlib.suppress(TypeError):
                    self.unique.get(key, {}).get(old, set()).discard(cust.key)
            if new is not None:
                self.unique.setdefault(key, {}).setdefault(new, set()).add(cust.key)

    def _load_unique(self, rows: list[_Row]) -> None:
        """Which live customers hold the unique custom values of the chunk (the rows' values and the
        defaults), with the same condition Registry.value_taken queries; a few queries per chunk."""
        if not self.unique_specs:
            return
        wanted: dict[str, set] = defaultdict(set)
        for row in rows:
            for key, value in ((row.cleaned or {}).get("custom_fields") or {}).items():
                if key in self.unique_specs and isinstance(value, str | int | float):
                    wanted[key].add(value)
        for key, value in self.custom_defaults.items():
            if key in self.unique_specs and isinstance(value, str | int | float):
                wanted[key].add(value)
        self.unique = {key: {} for key in self.unique_specs}
        spec_of = self.registry.object
        scope = spec_of.unique_scope() if spec_of and spec_of.unique_scope else Customer.objects.all()
        for key, values in wanted.items():
            spec = self.unique_specs[key]
            keys = [key, *([spec.custom.previous_key] if spec.custom.previous_key else [])]
            ordered = sorted(values, key=repr)
            for start in range(0, len(ordered), 100):
                q = Q()
                for value in ordered[start : start + 100]:
                    q |= spec.filter_q(customfields.Op.EQ, value)
                for pk, data in scope.filter(q).values_list("pk", "custom_fields"):
                    for stored_key in keys:
                        value = (data or {}).get(stored_key)
                        if isinstance(value, str | int | float) and value in values:
                            self.unique[key].setdefault(value, set()).add(pk)

    @staticmethod
    def _contact_specs(cleaned: dict[str, Any]) -> list[tuple[str, str]]:
        specs = [(p["kind"], p["normalized"]) for p in cleaned.get("contact_points") or []]
        specs += [(kind, cleaned[f]) for f, kind in _PRIMARY_KINDS.items() if cleaned.get(f)]
        return specs

    def _invisible(self, row: _Row, target: int) -> _Result:
        kind = Customer.objects.filter(pk=target).values_list("kind", flat=True).first()
        found = identity.find_duplicates(row.cleaned, kind=kind, actor=self.actor)
        exc = identity.DuplicateFound(
            [m for m in found if m.customer_id == target] or found, blocking=True, policy="ingest"
        )
        return _Result(row.id, ImportRowStatus.ERROR, None, _duplicate_errors(exc))
