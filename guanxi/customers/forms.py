"""Customer forms. They shape input only; the action validates it (same rules as the API).

Custom fields (`guanxi.core.customfields`) get one form field each, named "cf_<key>". They are all
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
from django.utils.translation import gettext_lazy as _

from guanxi.core import customfields, customization
from guanxi.core.models import CustomObject, FieldType, User
from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users
from guanxi.customers.models import Channel, CustomerKind, Gender, LifecycleStage, Tier

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


class CustomerForm(forms.Form):
    kind = forms.ChoiceField(label=_("Type"), choices=CustomerKind.choices, initial=CustomerKind.PERSON)
    name = forms.CharField(label=_("Name"), required=False, widget=forms.TextInput(attrs={"maxlength": 200}))
    company_name = forms.CharField(
        label=_("Company"),
        required=False,
        help_text=_("An existing company with this name is linked; otherwise one is created."),
        widget=forms.TextInput(attrs={"maxlength": 200}),
    )
    title = forms.CharField(
        label=_("Job title"), required=False, widget=forms.TextInput(attrs={"maxlength": 100})
    )
    phone = forms.CharField(
        label=_("Mobile / phone"),
        required=False,
        widget=forms.TextInput(attrs={"maxlength": 40, "inputmode": "tel"}),
    )
    email = forms.CharField(
        label=_("Email"), required=False, widget=forms.TextInput(attrs={"maxlength": 254})
    )
    wechat_id = forms.CharField(
        label=_("WeChat ID"), required=False, widget=forms.TextInput(attrs={"maxlength": 64})
    )
    gender = forms.ChoiceField(label=_("Gender"), choices=Gender.choices, required=False)
    birthday = forms.DateField(
        label=_("Birthday"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    industry = forms.CharField(
        label=_("Industry"), required=False, widget=forms.TextInput(attrs={"maxlength": 50})
    )
    province = forms.CharField(
        label=_("Province"), required=False, widget=forms.TextInput(attrs={"maxlength": 50})
    )
    city = forms.CharField(label=_("City"), required=False, widget=forms.TextInput(attrs={"maxlength": 50}))
    address = forms.CharField(
        label=_("Address"), required=False, widget=forms.TextInput(attrs={"maxlength": 300})
    )
    source = forms.ChoiceField(label=_("Source"), choices=Channel.choices, initial=Channel.MANUAL)
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=assignable_users(None).none(), required=False)
    lifecycle_stage = forms.ChoiceField(
        label=_("Lifecycle stage"), choices=LifecycleStage.choices, initial=LifecycleStage.POTENTIAL
    )
    tier = forms.ChoiceField(label=_("Tier"), choices=Tier.choices, required=False)
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separate tags with commas."), widget=forms.TextInput()
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3, "maxlength": 5000})
    )

    confirm_duplicate = forms.BooleanField(
        label=_("Save anyway: this is a different customer"), required=False
    )

    def __init__(self, *args, user, instance=None, layout: list[dict] | None = None, **kwargs):
        """`instance`: the customer being edited (None on creation); `layout`: the form sections,
        by default the user's layout for customers."""
        super().__init__(*args, **kwargs)
        self.user = user
        self.instance = instance
        self.initial = dict(self.initial)
        if user.has_perm_code(Perm.CUSTOMER_ASSIGN):
            self.fields["owner"].queryset = assignable_users(user).select_related("department")
        else:
            del self.fields["owner"]
        self.registry = customfields.Registry(CustomObject.CUSTOMER)
        self._add_custom_fields()
        if layout is None:
            layout = customization.layout_for(CustomObject.CUSTOMER, user)
        self._apply_layout(layout)
        for field in self.fields.values():
            if isinstance(field.widget, forms.CheckboxInput):
                field.widget.attrs["class"] = "form-check-input"
                continue
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs["class"] = css

    # -- building -----------------------------------------------------------------------------

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
                self.initial[name] = custom_initial(spec, stored)

    def _apply_layout(self, layout: list[dict]) -> None:
        """Keep the fields the layout places (in its order); drop the other data fields."""
        self.sections: list[dict] = []
        placed: set[str] = set()
        for section in layout:
            names = []
            for ref in section.get("fields", []):
                name = form_field_name(ref)
                if name in self.fields and name not in placed and name != "confirm_duplicate":
                    names.append(name)
                    placed.add(name)
            if names:
                self.sections.append({"title": section_title(section), "names": names})
        for name in list(self.fields):
            if name not in placed and name != "confirm_duplicate":
                del self.fields[name]
                self.custom_names.pop(name, None)
        for name in placed:
            spec = self.registry.get(self.spec_ref(name))
            self.fields[name].marked_required = bool(spec and spec.required)

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

    # -- output --------------------------------------------------------------------------------

    def to_action_data(self, *, changed_only: bool = False) -> dict:
        """The action's input. `changed_only` (edit): custom values the user changed, so fields
        left alone keep their stored value exactly (and a required field empty on an old record
        does not block an unrelated edit); a field the user emptied is sent empty and cleared."""
        data = dict(self.cleaned_data)
        data.pop("confirm_duplicate", None)
        if "owner" in data:
            owner = data.pop("owner")
            data["owner_id"] = owner.pk if owner else None
        custom: dict[str, Any] = {}
        for name, key in self.custom_names.items():
            value = data.pop(name, None)
            if changed_only and name not in self.changed_data:
                continue
            if isinstance(value, list | tuple):
                custom[key] = [str(v) for v in value if str(v).strip()]
            else:
                custom[key] = "" if value is None else value
        if custom or not changed_only:
            data["custom_fields"] = custom
        return data

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
        names = {"owner_id": "owner", "company_id": "company_name"}
        for field, messages in exc.message_dict.items():
            if field.startswith("custom_fields."):
                target = custom_field_name(field[len("custom_fields.") :])
            else:
                target = names.get(field, field)
            known = target in self.fields and target != "confirm_duplicate"
            for message in messages:
                self.add_error(target if known else None, message)
            if known:
                self._mark_invalid(target)


def custom_field_sections(customer, user, *, layout: list[dict] | None = None) -> list[dict]:
    """The customer's custom values for the detail page, grouped as the form layout groups them:
    [{"title", "items": [{"key", "label", "value", "url"}]}]; empty values are shown as "—"."""
    from django.urls import reverse

    registry = customfields.Registry(CustomObject.CUSTOMER)
    if not registry.custom:
        return []
    if layout is None:
        layout = customization.layout_for(CustomObject.CUSTOMER, user)
    specs = list(registry.custom.values())
    names = registry.names_for([customer], specs)
    # Linked records: a name (and a link) only for records the user may see.
    visible: dict[str, set[int]] = {}
    for spec in specs:
        value = spec.value_of(customer)
        if spec.type == FieldType.LINKED_RECORD and isinstance(value, int):
            if spec.custom.linked_object not in customfields.registered_objects():
                continue
            target = customfields.object_spec(spec.custom.linked_object)
            if target.visible_ids is not None:
                visible.setdefault(spec.custom.linked_object, set()).update(target.visible_ids(user, [value]))
    for kind, pk in list(names):
        if kind != "user" and kind in visible and pk not in visible[kind]:
            del names[(kind, pk)]
    sections = []
    shown: set[str] = set()
    for section in layout:
        items = []
        for ref in section.get("fields", []):
            spec = registry.get(ref)
            if spec is None or not spec.is_custom or ref in shown:
                continue
            shown.add(ref)
            value = spec.value_of(customer)
            url = ""
            if (
                spec.type == FieldType.LINKED_RECORD
                and spec.custom.linked_object == CustomObject.CUSTOMER
                and (CustomObject.CUSTOMER, value) in names
            ):
                url = reverse("customers:detail", args=[value])
            items.append(
                {"key": spec.key, "label": spec.label, "value": spec.display(value, names=names), "url": url}
            )
        if items:
            sections.append({"title": section_title(section), "items": items})
    return sections
