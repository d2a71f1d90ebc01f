"""Customer forms. They shape input only; the action validates it (same rules as the API).

Custom fields and form layouts: `guanxi.customization.forms_fields` (one form field "cf_<key>" per custom
field, raw values to the action, sections from `customization.layout_for`).
"""

from __future__ import annotations

from django import forms
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users
from guanxi.customers.models import Channel, CustomerKind, Gender, LifecycleStage, Tier
from guanxi.customization import actions as customization
from guanxi.customization import registry as customfields
from guanxi.customization.forms_fields import LayoutFormMixin, section_title
from guanxi.customization.models import CustomObject, FieldType


class CustomerForm(LayoutFormMixin, forms.Form):
    ALWAYS_KEPT = ("confirm_duplicate",)
    ERROR_TARGETS = {"owner_id": "owner", "company_id": "company_name"}

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

    # -- output --------------------------------------------------------------------------------

    def to_action_data(self, *, changed_only: bool = False) -> dict:
        """The action's input. `changed_only` (edit): custom values the user changed, so fields
        left alone keep their stored value exactly (and a required field empty on an old record
        does not block an unrelated edit); a field the user emptied is sent empty and cleared."""
        data = {k: v for k, v in self.cleaned_data.items() if k not in self.custom_names}
        data.pop("confirm_duplicate", None)
        if "owner" in data:
            owner = data.pop("owner")
            data["owner_id"] = owner.pk if owner else None
        custom = self.custom_values(changed_only=changed_only)
        if custom is not None:
            data["custom_fields"] = custom
        return data


def custom_field_sections(customer, user, *, layout: list[dict] | None = None) -> list[dict]:
    """The customer's custom values for the detail page, grouped as the form layout groups them:
    [{"title", "items": [{"key", "label", "value", "url"}]}]; empty values are shown as "—"."""
    registry = customfields.Registry(CustomObject.CUSTOMER)
    if not registry.custom:
        return []
    if layout is None:
        layout = customization.layout_for(CustomObject.CUSTOMER, user)
    specs = list(registry.custom.values())
    # Linked records: a name (and a link) only for records the user may see.
    names = registry.names_for([customer], specs, user=user)
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
                {
                    "key": spec.key,
                    "label": spec.label,
                    "value": spec.present(value, user=user, obj=customer, names=names),
                    "url": url,
                }
            )
        if items:
            sections.append({"title": section_title(section), "items": items})
    return sections
