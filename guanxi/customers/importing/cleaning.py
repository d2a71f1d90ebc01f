"""Turning a staged row into the input of actions.ingest_customer, validated field by field."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from guanxi import text as normalize
from guanxi.customers import actions, identity
from guanxi.customers.importing.fields import _CONTACT_POINT_FIELDS, is_custom_target
from guanxi.customers.importing.rows import (
    _DIRECT_FIELDS,
    _MEMO_FIELDS,
    _TAG_SEPARATORS,
    CHANNEL,
    GENDER_WORDS,
    MEMO_LIMIT,
    _cn_mobile_digits,
    _date_text,
    _Row,
    _scientific_to_digits,
    _validation_errors,
)
from guanxi.customization import registry as customfields

log = logging.getLogger(__name__)


class RowCleaner:
    """The input half of the runner (`_Runner`): staged cells -> validated customer input."""

    def prepare(self, row_id: int, number: int, raw: dict[str, str], *, clean: bool) -> _Row:
        row = _Row(row_id, number, raw)
        data: dict[str, Any] = {}
        points = []
        for header, target in self.pairs:
            value = raw.get(header)
            if value is None:
                continue
            value = value.strip()
            if not value:
                continue
            if target == "phone":
                data["phone"] = _scientific_to_digits(value)
            elif target == "external_id":
                value = _scientific_to_digits(value)
                if len(value) > 100:
                    row.errors["external_id"] = [_("Must be at most %(max)d characters.") % {"max": 100}]
                else:
                    row.external_ref = value
            elif target == "gender":
                data["gender"] = GENDER_WORDS.get(value.lower(), value)
            elif target == "birthday":
                data["birthday"] = _date_text(value)
            elif target == "tags":
                data["tags"] = value.translate(_TAG_SEPARATORS)
            elif target in _CONTACT_POINT_FIELDS:
                points.append({"kind": _CONTACT_POINT_FIELDS[target], "value": value, "source": CHANNEL})
            elif target == "owner":
                owner_id, error = self.owners.resolve(value)
                if error:
                    row.errors["owner_id"] = [error]
                else:
                    data["owner_id"] = owner_id
            elif is_custom_target(target):
                data.setdefault("custom_fields", {})[target[len(customfields.PREFIX) :]] = value
            else:
                data[target] = value
        if points:
            data["contact_points"] = points
        row.data = data
        if clean:
            self._clean(row)
        return row

    def _clean(self, row: _Row) -> None:
        """clean_customer_input(row.data, partial=True), field by field (each field is validated on its
        own there): repeating values are memoised, unique ones normalised directly, and any failure is
        passed to clean_customer_input itself so that the messages are exactly its messages."""
        cleaned: dict[str, Any] = {}
        errors = row.errors
        memo = self.memo
        for name, value in row.data.items():
            if name == "phone":
                digits = _cn_mobile_digits(value)
                if digits is not None:
                    fast = self.phones.clean(digits, self.actor)
                    if isinstance(fast, tuple):
                        cleaned["phone"] = fast[0]
                        row.display[fast[0]] = fast[1]
                        continue
                    if fast is not None:
                        errors.update(fast)
                        continue
            elif name in _DIRECT_FIELDS:
                try:
                    cleaned[name] = _DIRECT_FIELDS[name](value)
                    continue
                except normalize.NormalizationError:
                    pass  # the messages come from clean_customer_input below
            elif name == "custom_fields":
                values, custom_errors = self._clean_custom(value)
                errors.update(custom_errors)
                cleaned["custom_fields"] = values
                continue
            elif name == "contact_points":
                try:
                    cleaned[name] = [
                        {
                            "kind": p["kind"],
                            "normalized": normalize.normalize_wechat_id(p["value"]),
                            "source": p["source"],
                            "source_ref": "",
                            "verified": False,
                        }
                        for p in value
                    ]
                    continue
                except normalize.NormalizationError:
                    pass
            key = (name, value) if name in _MEMO_FIELDS else None
            hit = memo.get(key) if key else None
            if hit is None:
                try:
                    hit = (actions.clean_customer_input({name: value}, actor=self.actor, partial=True), None)
                except ValidationError as exc:
                    hit = (None, _validation_errors(exc))
                if key:
                    if len(memo) > MEMO_LIMIT:
                        memo.clear()
                    memo[key] = hit
            if hit[1] is not None:
                errors.update(hit[1])
            else:
                cleaned.update(hit[0])
        if errors:
            return
        if row.external_ref:
            points = cleaned.get("contact_points", [])
            cleaned["contact_points"] = [*points, identity.external_id_point(CHANNEL, row.external_ref)]
        row.cleaned = cleaned
        row.idents = identity.identifiers(cleaned)

    def _clean_custom(self, raw: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Registry.clean(raw) as clean_customer_input(partial=True) calls it, one value at a time
        (each value is validated on its own there), memoised per distinct value."""
        values: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        memo = self.memo
        for key in sorted(raw):
            memo_key = ("custom_fields", key, raw[key])
            hit = memo.get(memo_key)
            if hit is None:
                hit = self.registry.clean(
                    {key: raw[key]}, creating=False, actor=self.actor, check_unique=False
                )
                if len(memo) > MEMO_LIMIT:
                    memo.clear()
                memo[memo_key] = hit
            values.update(hit[0])
            errors.update(hit[1])
        return values, errors
