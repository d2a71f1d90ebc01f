"""Form helpers shared by every object whose page form carries custom fields and follows a form layout.

Custom fields (`guanxi.customization.registry`) get one form field each, named "cf_<key>". They are all
optional at form level and send raw text (a list of keys for multi-select) to the action, whose
registry validates them; its errors ("custom_fields.<key>") come back on "cf_<key>". Which fields
the page shows, and in which sections, comes from the form layout (`customization.layout_for`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.translation import gettext

from guanxi.core.models import User
from guanxi.customization import registry as customfields
from guanxi.customization.models import FieldType

CUSTOM_PREFIX = "cf_"


def custom_field_name(key: str) -> str:
    return CUSTOM_PREFIX + key


def form_field_name(ref: str) -> str:
    """The form field for a registry ref: "owner" -> "owner", "cf.level" -> "cf_level"."""
    if ref.startswith(customfields.PREFIX):
        return custom_field_name(ref[len(customfields.PREFIX) :])
    return ref


def section_title(section: dict) -> str:
    english = (translation.get_language() or "").startswith("en")
    return (section.get("title_en") if english else "") or section.get("title_zh") or ""


class RawMultipleField(forms.MultipleChoiceField):
    """A list of keys passed to the action as is: the registry, not the form, checks the choices."""

    def validate(self, value):
        pass


def _user_choices(stored: Any) -> list[tuple[str, str]]:
    users = User.objects.filter(is_active=True).order_by("display_name", "username")
    choices = [(str(u.pk), str(u)) for u in users]
    if isinstance(stored, int) and str(stored) not in {pk for pk, _label in choices}:
        user = User.objects.filter(pk=stored).first()
        choices.append((str(stored), str(user) if user else str(stored)))
    return choices


def _select_choices(spec: customfields.FieldSpec, stored: Any) -> list[tuple[str, str]]:
    choices = [(key, spec.choice_label(key)) for key, _zh, _en in spec.choices]
    live = {key for key, _label in choices}
    # A value retired from the picklist is still shown on the records that hold it.
    for key in stored if isinstance(stored, list) else [stored]:
        if key not in (None, "") and str(key) not in live:
            choices.append((str(key), spec.choice_label(str(key))))
            live.add(str(key))
    return choices


def custom_form_field(spec: customfields.FieldSpec, stored: Any = None) -> forms.Field:
    """The form field for one custom field (never required here: the action decides)."""
    kind = spec.type
    common: dict[str, Any] = {"label": spec.label, "help_text": spec.help, "required": False}
    attrs: dict[str, Any] = {}
    if spec.required:
        attrs["aria-required"] = "true"
    if kind == FieldType.LONG_TEXT:
        return forms.CharField(**common, widget=forms.Textarea(attrs={**attrs, "rows": 3}))
    if kind in (FieldType.NUMBER, FieldType.MONEY):
        return forms.CharField(**common, widget=forms.TextInput(attrs={**attrs, "inputmode": "decimal"}))
    if kind == FieldType.DATE:
        return forms.CharField(**common, widget=forms.TextInput(attrs={**attrs, "type": "date"}))
    if kind == FieldType.DATETIME:
        return forms.CharField(**common, widget=forms.TextInput(attrs={**attrs, "type": "datetime-local"}))
    if kind == FieldType.BOOLEAN:
        choices = [("", "—"), ("true", gettext("Yes")), ("false", gettext("No"))]
        return forms.CharField(**common, widget=forms.Select(attrs=attrs, choices=choices))
    if kind == FieldType.SINGLE_SELECT:
        choices = [("", "—"), *_select_choices(spec, stored)]
        return forms.CharField(**common, widget=forms.Select(attrs=attrs, choices=choices))
    if kind == FieldType.MULTI_SELECT:
        return RawMultipleField(
            **common, choices=_select_choices(spec, stored), widget=forms.SelectMultiple(attrs=attrs)
        )
    if kind == FieldType.USER:
        choices = [("", "—"), *_user_choices(stored)]
        return forms.CharField(**common, widget=forms.Select(attrs=attrs, choices=choices))
    if kind == FieldType.LINKED_RECORD:
        widget = forms.NumberInput(attrs={**attrs, "min": 1, "placeholder": gettext("Record ID")})
        return forms.CharField(**common, widget=widget)
    if kind == FieldType.PHONE:
        attrs["inputmode"] = "tel"
    elif kind == FieldType.EMAIL:
        attrs["inputmode"] = "email"
    elif kind == FieldType.URL:
        attrs["inputmode"] = "url"
    return forms.CharField(**common, widget=forms.TextInput(attrs=attrs))


def custom_initial(spec: customfields.FieldSpec, stored: Any) -> Any:
    """A stored custom value as the form shows it."""
    if stored is None or stored == "" or stored == []:
        return [] if spec.type == FieldType.MULTI_SELECT else ""
    kind = spec.type
    if kind == FieldType.MULTI_SELECT:
        return [str(v) for v in stored] if isinstance(stored, list) else [str(stored)]
    if kind == FieldType.BOOLEAN:
        return "true" if stored is True else "false" if stored is False else str(stored)
    if kind == FieldType.DATETIME and isinstance(stored, str):
        try:
            moment = dt.datetime.fromisoformat(stored)
        except ValueError:
            return stored
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, dt.UTC)
        return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")
    if isinstance(stored, float) and stored.is_integer():
        return str(int(stored))
    return str(stored)


class LayoutFormMixin:
    """Custom-field form fields, layout sections and action errors for a `forms.Form`.

    The form sets `self.registry` and `self.instance` (None on creation), then calls
    `_add_custom_fields()` and `_apply_layout(layout)`. Class attributes: `ALWAYS_KEPT` (form fields
    kept whatever the layout says), `ERROR_TARGETS` (action error key -> form field) and
    `REGISTRY_LABELS` (label built-in fields with the registry's label).
    """

    ALWAYS_KEPT: tuple[str, ...] = ()
    ERROR_TARGETS: dict[str, str] = {}
    REGISTRY_LABELS = False

    def _add_custom_fields(self) -> None:
        stored_map = None
        if self.instance is not None:
            stored_map = self.registry.normalize_stored(self.instance.custom_fields or {})
        self.custom_names: dict[str, str] = {}  # form field name -> custom field key
        for key, spec in self.registry.custom.items():
            # A new record starts with the field's default, which the user may change or clear.
            stored = stored_map.get(key) if stored_map is not None else spec.custom.default
            name = custom_field_name(key)
            self.fields[name] = custom_form_field(spec, stored)
            self.custom_names[name] = key
            if name not in self.initial:
                if stored_map is not None and not spec.may_reveal(getattr(self, "user", None), self.instance):
                    # Masked for a user who may edit but not see the value: left as it is, it is not
                    # sent (edits send changed values only); a new value replaces it.
                    self.initial[name] = spec.present(stored, user=self.user, obj=self.instance)
                else:
                    self.initial[name] = custom_initial(spec, stored)

    def _apply_layout(self, layout: list[dict]) -> None:
        """Keep the fields the layout places (in its order); drop the other data fields."""
        self.sections: list[dict] = []
        placed: set[str] = set()
        for section in layout:
            names = []
            for ref in section.get("fields", []):
                name = form_field_name(ref)
                if name in self.fields and name not in placed and name not in self.ALWAYS_KEPT:
                    names.append(name)
                    placed.add(name)
            if names:
                self.sections.append({"title": section_title(section), "names": names})
        for name in list(self.fields):
            if name not in placed and name not in self.ALWAYS_KEPT:
                del self.fields[name]
                self.custom_names.pop(name, None)
        for name in placed:
            spec = self.registry.get(self.spec_ref(name))
            self.fields[name].marked_required = bool(spec and spec.required)
            if self.REGISTRY_LABELS and spec is not None and not spec.is_custom:
                self.fields[name].label = spec.label  # the registry's label, as in lists and filters

    def spec_ref(self, name: str) -> str:
        key = self.custom_names.get(name)
        return customfields.PREFIX + key if key is not None else name

    @property
    def layout_sections(self) -> list[dict]:
        """The sections to render: a title and its bound fields."""
        return [
            {"title": section["title"], "fields": [self[name] for name in section["names"]]}
            for section in self.sections
        ]

    def custom_values(self, *, changed_only: bool) -> dict[str, Any] | None:
        """The custom part of the action's input, or None when there is nothing to send.

        `changed_only` (edit): only values the user changed, so fields left alone keep their stored
        value exactly; a field the user emptied is sent empty and cleared."""
        custom: dict[str, Any] = {}
        for name, key in self.custom_names.items():
            if changed_only and name not in self.changed_data:
                continue
            value = self.cleaned_data.get(name)
            if isinstance(value, list | tuple):
                custom[key] = [str(v) for v in value if str(v).strip()]
            else:
                custom[key] = "" if value is None else value
        return custom if custom or (not changed_only and self.custom_names) else None

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                self._mark_invalid(name)

    def _mark_invalid(self, name: str) -> None:
        css = self.fields[name].widget.attrs.get("class", "")
        if "is-invalid" not in css:
            self.fields[name].widget.attrs["class"] = f"{css} is-invalid".strip()

    def add_action_errors(self, exc: ValidationError) -> None:
        for field, messages in exc.message_dict.items():
            if field.startswith("custom_fields."):
                target = custom_field_name(field[len("custom_fields.") :])
            else:
                target = self.ERROR_TARGETS.get(field, field)
            known = target in self.fields and target not in self.ALWAYS_KEPT
            for message in messages:
                self.add_error(target if known else None, message)
            if known:
                self._mark_invalid(target)
