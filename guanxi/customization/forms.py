"""Forms of the customisation settings pages. They only shape input: every rule lives in
`guanxi.customization.actions` (the actions), whose `ValidationError` messages come back on these fields."""

from __future__ import annotations

import decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from guanxi.customization import registry as customfields
from guanxi.customization.actions import SAFE_RETYPES, SELECT_TYPES
from guanxi.customization.models import CustomField, CustomObject, FieldType, Picklist

NAMED_COLORS = [
    ("secondary", _("Grey")),
    ("primary", _("Blue")),
    ("info", _("Cyan")),
    ("success", _("Green")),
    ("warning", _("Yellow")),
    ("danger", _("Red")),
    ("dark", _("Black")),
]
CUSTOM_COLOR = "custom"


def style(form: forms.BaseForm) -> None:
    """Bootstrap classes on every widget."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxSelectMultiple | forms.HiddenInput):
            continue
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs["class"] = "form-check-input"
        elif isinstance(widget, forms.Select | forms.SelectMultiple):
            widget.attrs["class"] = "form-select"
        else:
            widget.attrs["class"] = "form-control"


def add_action_errors(
    form: forms.BaseForm, exc: ValidationError, aliases: dict[str, str] | None = None
) -> None:
    """Put an action's ValidationError on the form: messages keyed by field go on that field."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for name, errors in exc.message_dict.items():
        name = (aliases or {}).get(name, name)
        form.add_error(name if name in form.fields else None, errors)


def object_choices() -> list[tuple[str, str]]:
    labels = dict(CustomObject.choices)
    return [(value, labels[value]) for value in customfields.registered_objects()]


def _picklist_choices() -> list[tuple[str, str]]:
    return [("", _("— its own list, from the options above —"))] + [
        (str(p.pk), f"{p.label_zh} ({p.key})") for p in Picklist.objects.order_by("key")
    ]


def default_as_text(definition: CustomField) -> str:
    """A stored default shown in a text input (the action parses text back to the typed value)."""
    value = definition.default
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number_text(value: Any) -> str:
    if value is None:
        return ""
    number = decimal.Decimal(value).normalize()
    return f"{number:f}"


class CustomFieldForm(forms.Form):
    """Create (all fields) or edit (without object and key; type limited to safe retypes)."""

    object_type = forms.ChoiceField(label=_("Object"), required=False)
    key = forms.CharField(
        label=_("Key"),
        required=False,
        max_length=100,
        help_text=_("Used by the API, imports and exports: lowercase letters, digits and underscores."),
    )
    label_zh = forms.CharField(label=_("Chinese label"), required=False, max_length=200)
    label_en = forms.CharField(label=_("English label"), required=False, max_length=200)
    type = forms.ChoiceField(label=_("Type"), choices=FieldType.choices, required=False)
    required = forms.BooleanField(label=_("Required"), required=False)
    unique = forms.BooleanField(label=_("Unique"), required=False)
    default = forms.CharField(
        label=_("Default value"),
        required=False,
        max_length=500,
        help_text=_("Filled in on new records. For yes / no fields: yes or no."),
    )
    regex = forms.CharField(
        label=_("Validation pattern"),
        required=False,
        max_length=300,
        help_text=_("A regular expression the whole text must match (text fields)."),
    )
    min_value = forms.CharField(label=_("Minimum"), required=False, max_length=40)
    max_value = forms.CharField(label=_("Maximum"), required=False, max_length=40)
    max_length = forms.CharField(label=_("Maximum length"), required=False, max_length=10)
    help_zh = forms.CharField(label=_("Chinese help text"), required=False, max_length=400)
    help_en = forms.CharField(label=_("English help text"), required=False, max_length=400)
    options = forms.CharField(
        label=_("Options"),
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "华东|East China\n华南|South China"}),
        help_text=_("Select fields: one option per line, as 中文|English."),
    )
    picklist_id = forms.ChoiceField(label=_("Or use an existing picklist"), required=False)
    linked_object = forms.ChoiceField(label=_("Links to"), required=False)

    def __init__(self, *args, definition: CustomField | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.definition = definition
        self.fields["object_type"].choices = object_choices()
        self.fields["linked_object"].choices = [("", "—"), *object_choices()]
        self.fields["picklist_id"].choices = _picklist_choices()
        if definition is not None:
            for name in ("object_type", "key", "linked_object"):
                del self.fields[name]
            allowed = {definition.type, *SAFE_RETYPES.get(FieldType(definition.type), set())}
            self.fields["type"].choices = [(v, label) for v, label in FieldType.choices if v in allowed]
            self.fields["options"].label = _("Add options")
            self.fields["options"].help_text = _(
                "One new option per line, as 中文|English. Edit or retire existing values on the picklist page."
            )
            # Switching a field to another picklist would strand its stored values.
            del self.fields["picklist_id"]
            if definition.type not in SELECT_TYPES:
                del self.fields["options"]
        style(self)

    @classmethod
    def initial_for(cls, definition: CustomField) -> dict:
        return {
            "label_zh": definition.label_zh,
            "label_en": definition.label_en,
            "type": definition.type,
            "required": definition.required,
            "unique": definition.unique,
            "default": default_as_text(definition),
            "regex": definition.regex,
            "min_value": _number_text(definition.min_value),
            "max_value": _number_text(definition.max_value),
            "max_length": definition.max_length or "",
            "help_zh": definition.help_zh,
            "help_en": definition.help_en,
        }

    def to_action_input(self) -> dict:
        data = dict(self.cleaned_data)
        if self.definition is None:
            data["picklist_id"] = data.get("picklist_id") or None
            if data.get("type") != FieldType.LINKED_RECORD:
                data.pop("linked_object", None)
        return data


class RenameFieldForm(forms.Form):
    key = forms.CharField(
        label=_("New key"),
        max_length=100,
        help_text=_("Lowercase letters, digits and underscores, starting with a letter."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style(self)


class PicklistForm(forms.Form):
    key = forms.CharField(
        label=_("Key"), required=False, max_length=100, help_text=_("Lowercase letters, digits and dashes.")
    )
    label_zh = forms.CharField(label=_("Chinese label"), required=False, max_length=200)
    label_en = forms.CharField(label=_("English label"), required=False, max_length=200)
    values = forms.CharField(
        label=_("Values"),
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "华东|East China\n华南|South China"}),
        help_text=_("One value per line, as 中文|English."),
    )

    def __init__(self, *args, picklist: Picklist | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if picklist is not None:
            del self.fields["key"]
            del self.fields["values"]
        style(self)


class PicklistValueForm(forms.Form):
    """One row of the picklist values table; `existing` rows keep their key (it is stored on records)."""

    existing = forms.CharField(required=False, widget=forms.HiddenInput)  # "1" for a stored value
    key = forms.CharField(label=_("Value"), required=False, max_length=100)
    label_zh = forms.CharField(label=_("Chinese label"), required=False, max_length=200)
    label_en = forms.CharField(label=_("English label"), required=False, max_length=200)
    position = forms.IntegerField(label=_("Sort order"), required=False, min_value=0, max_value=100000)
    color = forms.ChoiceField(label=_("Colour"), choices=NAMED_COLORS, required=False)
    remove = forms.BooleanField(label=_("Remove"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = (self.initial or {}).get("color")
        if current and current not in dict(NAMED_COLORS):
            self.fields["color"].choices = [*NAMED_COLORS, (current, current)]
        if self.data:
            posted = self.data.get(self.add_prefix("color"))
            if posted and posted not in dict(self.fields["color"].choices):
                # A hex colour set elsewhere (API) stays selectable; the action checks it.
                self.fields["color"].choices = [*self.fields["color"].choices, (posted, posted)]
        self.fields["key"].widget.attrs["placeholder"] = _("= Chinese label")
        style(self)

    def clean(self):
        data = super().clean()
        if data.get("existing") and not data.get("remove") and not (data.get("label_zh") or "").strip():
            self.add_error("label_zh", _("This field is required."))
        return data


PicklistValueFormSet = forms.formset_factory(PicklistValueForm, extra=3, max_num=500, absolute_max=1000)


class MergeValueForm(forms.Form):
    value = forms.ChoiceField(label=_("Merge value"))
    into = forms.ChoiceField(label=_("into"))

    def __init__(self, *args, picklist: Picklist, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(str(v.pk), f"{v.label_zh} ({v.key})") for v in picklist.values.filter(is_active=True)]
        self.fields["value"].choices = choices
        self.fields["into"].choices = choices
        style(self)


class TagForm(forms.Form):
    name = forms.CharField(label=_("Name"), required=False, max_length=100)
    color = forms.ChoiceField(label=_("Colour"), choices=[*NAMED_COLORS, (CUSTOM_COLOR, _("Custom colour"))])
    custom_color = forms.CharField(
        label=_("Custom colour"),
        required=False,
        max_length=7,
        widget=forms.TextInput(attrs={"type": "color"}),
        help_text=_("Used when the colour is “Custom colour”."),
    )
    object_types = forms.MultipleChoiceField(
        label=_("Used on"),
        choices=CustomObject.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any object."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style(self)

    @classmethod
    def initial_for(cls, tag) -> dict:
        named = tag.color in dict(NAMED_COLORS)
        return {
            "name": tag.name,
            "color": tag.color if named else CUSTOM_COLOR,
            "custom_color": "" if named else tag.color,
            "object_types": tag.object_types,
        }

    def to_action_input(self) -> dict:
        data = self.cleaned_data
        color = data["custom_color"] if data["color"] == CUSTOM_COLOR else data["color"]
        return {"name": data["name"], "color": color, "object_types": list(data["object_types"])}
