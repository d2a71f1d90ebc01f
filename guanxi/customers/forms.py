"""Customer forms. They shape input only; the action validates it (same rules as the API)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users
from guanxi.customers.models import Channel, CustomerKind, Gender, LifecycleStage, Tier


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

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        for field in self.fields.values():
            if isinstance(field.widget, forms.CheckboxInput):
                field.widget.attrs["class"] = "form-check-input"
                continue
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs["class"] = css
        if user.has_perm_code(Perm.CUSTOMER_ASSIGN):
            self.fields["owner"].queryset = assignable_users(user).select_related("department")
        else:
            del self.fields["owner"]

    def to_action_data(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("confirm_duplicate", None)
        if "owner" in data:
            owner = data.pop("owner")
            data["owner_id"] = owner.pk if owner else None
        return data

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["class"] += " is-invalid"

    def add_action_errors(self, exc: ValidationError) -> None:
        names = {"owner_id": "owner", "company_id": "company_name"}
        for field, messages in exc.message_dict.items():
            target = names.get(field, field)
            for message in messages:
                self.add_error(target if target in self.fields else None, message)
