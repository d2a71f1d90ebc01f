"""`Registry`: every field of one object type, built-in and custom, loaded once (per request,
import run or task), with the validation of a custom-value map, filter conditions, sort orders, the
names of user and linked-record values, and the presenting of stored custom values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _

from guanxi.core import sensitive as sensitive_values
from guanxi.core.models import User
from guanxi.customization.models import CustomField, FieldType
from guanxi.customization.registry.cleaning import clean_filter_value, clean_value
from guanxi.customization.registry.definitions import _choices_for, _sensitive_types_of, custom_spec
from guanxi.customization.registry.operators import ID_TYPES, LIVE_STATUSES, PREFIX, Op
from guanxi.customization.registry.spec import (
    _OBJECTS,
    FieldSpec,
    _custom_q,
    _localized,
    carries_custom_fields,
)


class Registry:
    """Every field of one object type, loaded once (per request, import run or task)."""

    def __init__(self, object_type: str) -> None:
        self.object_type = object_type
        self.object = _OBJECTS.get(object_type)
        # One query for every definition: the live ones describe the fields; all of them (deleted
        # fields' values may still sit in stored maps and old audit entries) say which are sensitive.
        # An object outside `CustomObject` (a task) has built-in fields only: no query.
        every = (
            list(
                CustomField.objects.filter(object_type=object_type)
                .select_related("picklist")
                .order_by("position", "id")
            )
            if carries_custom_fields(object_type)
            else []
        )
        self.definitions = [d for d in every if d.status in LIVE_STATUSES]
        self._sensitive_types = _sensitive_types_of(every)
        choices = _choices_for(self.definitions)
        self.custom = {d.key: custom_spec(d, choices.get(d.picklist_id)) for d in self.definitions}
        self.builtin = {s.ref: s for s in (self.object.builtin() if self.object else [])}

    def fields(self) -> list[FieldSpec]:
        return [*self.builtin.values(), *self.custom.values()]

    # -- presenting -------------------------------------------------------------------------

    @property
    def sensitive_types(self) -> dict[str, str]:
        """Stored key -> type of the sensitive custom fields (previous keys of renames and deleted
        fields included: stored maps and old audit entries may still hold them); no extra query."""
        return self._sensitive_types

    def present_custom_values(self, values: Any, user, obj: Any = None) -> Any:
        """A stored custom-field map (the record's, or one from an audit entry) as `user` may see it:
        typed values as stored, sensitive ones masked unless the user may reveal them on `obj`.
        Values stored protected (audit entries) always show their mask."""
        if not isinstance(values, dict):
            return values
        kinds = self.sensitive_types if values else {}
        owner_id = getattr(obj, "owner_id", None)
        result = {}
        for key, value in values.items():
            kind = kinds.get(key)
            if kind is None or value in (None, ""):
                result[key] = value
            elif sensitive_values.is_protected(value) or not sensitive_values.may_reveal(
                user, sensitive_values.DEFAULT_PERMISSION, owner_id
            ):
                result[key] = sensitive_values.mask(kind, value)
            else:
                result[key] = value
        return result

    def get(self, ref: str) -> FieldSpec | None:
        if ref.startswith(PREFIX):
            return self.custom.get(ref[len(PREFIX) :])
        return self.builtin.get(ref)

    # -- validation -------------------------------------------------------------------------

    def clean(
        self,
        raw: Any,
        *,
        current: dict | None = None,
        creating: bool,
        instance_id: int | None = None,
        actor=None,
        check_unique: bool = True,
    ) -> tuple[dict, dict[str, list[str]]]:
        """Validate a {key: value} map of custom values; returns (new stored map, errors).

        `current` is the stored map of the record being edited: keys not given keep their value.
        On creation a missing required field takes its default or is an error; on edit, a required
        field may be left alone but not emptied. Errors are keyed "custom_fields.<key>".
        """
        errors: dict[str, list[str]] = {}
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            return dict(current or {}), {
                "custom_fields": [_("Must be an object with one entry per custom field.")]
            }
        result = self.normalize_stored(current or {})
        # During a rename a client may still send the previous key: it means the renamed field.
        raw = self.normalize_stored(raw)
        for key in sorted(raw, key=str):
            spec = self.custom.get(key) if isinstance(key, str) else None
            if spec is None:
                errors.setdefault(f"custom_fields.{key}", []).append(_("Unknown custom field."))
                continue
            try:
                value = clean_value(spec, raw[key], actor=actor)
            except ValidationError as exc:
                errors.setdefault(f"custom_fields.{key}", []).extend(exc.messages)
                continue
            if value is None:
                if spec.required:
                    errors.setdefault(f"custom_fields.{key}", []).append(_("This field is required."))
                result.pop(key, None)
            else:
                result[key] = value
        if creating:
            for key, spec in self.custom.items():
                if key in result or key in raw:
                    continue
                default = spec.custom.default
                if default not in (None, "", []):
                    try:
                        result[key] = clean_value(spec, default, actor=None)
                        continue
                    except ValidationError:
                        pass
                if spec.required:
                    errors.setdefault(f"custom_fields.{key}", []).append(_("This field is required."))
        if not check_unique:  # ingestion: checked once the record the data goes to is known
            return result, errors
        for key in sorted(raw, key=str):
            spec = self.custom.get(key) if isinstance(key, str) else None
            if spec is None or not spec.custom.unique or key not in result:
                continue
            if f"custom_fields.{key}" in errors:
                continue
            if self.value_taken(spec, result[key], exclude_id=instance_id):
                errors.setdefault(f"custom_fields.{key}", []).append(
                    _("Another record already has this value.")
                )
        return result, errors

    def normalize_stored(self, stored: dict) -> dict:
        """A stored map with keys of fields being renamed moved to their new key."""
        result = dict(stored)
        for key, spec in self.custom.items():
            previous = spec.custom.previous_key
            if previous and previous in result:
                value = result.pop(previous)
                result.setdefault(key, value)
        return result

    def value_taken(self, spec: FieldSpec, value: Any, *, exclude_id: int | None) -> bool:
        if self.object is None:
            return False
        qs = self.object.unique_scope() if self.object.unique_scope else self.object.model.objects.all()
        qs = qs.filter(_custom_q(spec, Op.EQ, value))
        if exclude_id is not None:
            qs = qs.exclude(pk=exclude_id)
        return qs.exists()

    def clean_filters(self, conditions: Any, *, user) -> list[tuple[FieldSpec, str, Any]]:
        """Validate saved-view / API filter conditions [{"field", "op", "value"}]; raises ValidationError.

        `user` (None: the system) may not test the value of a field masked for them (`may_query`):
        only whether it is empty."""
        if conditions in (None, ""):
            return []
        if not isinstance(conditions, list):
            raise ValidationError({"filters": [_("Filters must be a list of conditions.")]})
        cleaned, errors = [], []
        for n, condition in enumerate(conditions, start=1):
            if not isinstance(condition, dict):
                errors.append(_("Condition %(n)s: must be an object with field, op and value.") % {"n": n})
                continue
            ref, op = str(condition.get("field") or ""), str(condition.get("op") or "eq")
            spec = self.get(ref)
            if spec is None or not spec.filterable:
                errors.append(_("Condition %(n)s: unknown field %(field)s.") % {"n": n, "field": ref[:60]})
                continue
            if op not in spec.ops:
                errors.append(
                    _("Condition %(n)s: %(field)s cannot be filtered with %(op)s.")
                    % {"n": n, "field": spec.label, "op": op[:30]}
                )
                continue
            if op not in (Op.EMPTY, Op.NOT_EMPTY) and not spec.may_query(user):
                errors.append(
                    _(
                        "Condition %(n)s: %(field)s is masked for you, so you may only filter on whether it is empty."
                    )
                    % {"n": n, "field": spec.label}
                )
                continue
            try:
                value = clean_filter_value(spec, op, condition.get("value"))
            except ValidationError as exc:
                errors.append(_("Condition %(n)s: %(error)s") % {"n": n, "error": " ".join(exc.messages)})
                continue
            cleaned.append((spec, op, value))
        if errors:
            raise ValidationError({"filters": errors})
        return cleaned

    def filter_q(self, conditions: Any, *, user) -> Q:
        q = Q()
        for spec, op, value in self.clean_filters(conditions, user=user):
            condition = spec.filter_q(op, value)
            if spec.multi_valued and self.object is not None:
                condition = Q(pk__in=self.object.model.objects.filter(condition).values("pk"))
            q &= condition
        return q

    def ordering(self, sort: str, *, user) -> list[Any] | None:
        """An order_by list for "ref" or "-ref"; None when the field cannot be sorted on (by `user`:
        sorting on a value masked for them would reveal how it compares)."""
        descending = sort.startswith("-")
        spec = self.get(sort.lstrip("-"))
        if spec is None or not spec.sortable or not spec.may_query(user):
            return None
        return [spec.order_expression(descending), "-pk" if descending else "pk"]

    def names_for(
        self, objects: Iterable[Any], specs: Iterable[FieldSpec], *, user
    ) -> dict[tuple[str, int], str]:
        """(kind, id) -> display name for the user and linked-record values among `objects`.

        Linked records are named only when `user` may see them (the target object's `visible_ids`);
        the others are displayed by id. `user=None` is the system (no scope)."""
        wanted: dict[str, set[int]] = {}
        for spec in specs:
            if spec.type not in ID_TYPES:
                continue
            kind = (
                "user" if spec.type == FieldType.USER else (spec.custom.linked_object if spec.custom else "")
            )
            for obj in objects:
                value = spec.value_of(obj)
                if isinstance(value, int):
                    wanted.setdefault(kind, set()).add(value)
        names: dict[tuple[str, int], str] = {}
        for kind, ids in wanted.items():
            if kind == "user":
                for person in User.objects.filter(pk__in=ids):
                    names[("user", person.pk)] = person.display_name or person.username
            elif kind in _OBJECTS and _OBJECTS[kind].names:
                target = _OBJECTS[kind]
                if user is not None and target.visible_ids is not None:
                    ids = target.visible_ids(user, ids)
                for pk, name in target.names(ids).items():
                    names[(kind, pk)] = name
        return names


def field_choices_for_filters(registry: Registry) -> list[dict]:
    """What a filter builder needs: every filterable field with its type, ops and choices."""
    return [
        {
            "ref": spec.ref,
            "label": spec.label,
            "type": spec.type,
            "ops": [(op, str(Op(op).label)) for op in spec.ops],
            "choices": [(key, _localized(zh, en)) for key, zh, en in spec.choices],
        }
        for spec in registry.fields()
        if spec.filterable
    ]
