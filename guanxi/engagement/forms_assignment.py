"""Lead assignment and handover forms: they shape input for the actions, which validate it."""

from __future__ import annotations

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.scopes import assignable_users
from guanxi.customers.models import Channel, Tier
from guanxi.engagement.actions import assignment_rules
from guanxi.engagement.actions import handover as handover_actions
from guanxi.engagement.models import AssignmentRule, AssignmentStrategy

TEXT_CONDITIONS = ("province", "city", "industry")


def style(form: forms.Form) -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxSelectMultiple):
            continue
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs["class"] = "form-check-input"
        elif isinstance(widget, forms.Select | forms.SelectMultiple):
            widget.attrs["class"] = "form-select"
        else:
            widget.attrs["class"] = "form-control"


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        label = str(obj)
        return label if obj.is_active else _("%(name)s (inactive)") % {"name": label}


def _label(field: str):
    """The model field's verbose name (same wording as the admin and the catalogue)."""
    return capfirst(AssignmentRule._meta.get_field(field).verbose_name)


class RuleForm(forms.Form):
    name = forms.CharField(label=_label("name"), max_length=100)
    position = forms.IntegerField(
        label=_label("position"),
        min_value=0,
        initial=0,
        help_text=gettext_lazy("Rules are tried from the lowest order; the first match assigns the lead."),
    )
    is_active = forms.BooleanField(label=_label("is_active"), required=False, initial=True)
    strategy = forms.ChoiceField(label=_label("strategy"), choices=AssignmentStrategy.choices)
    first_response_minutes = forms.IntegerField(
        label=_label("first_response_minutes"),
        min_value=1,
        max_value=assignment_rules.MAX_FIRST_RESPONSE_MINUTES,
        initial=120,
    )
    members = forms.ModelMultipleChoiceField(
        label=_label("members"),
        queryset=assignable_users(None).none(),
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=gettext_lazy("Capacity, working hours and away dates are set on each user."),
    )
    source = forms.MultipleChoiceField(
        label=gettext_lazy("Source"),
        choices=Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: any source."),
    )
    province = forms.CharField(
        label=gettext_lazy("Province"),
        required=False,
        help_text=gettext_lazy("Several values separated by commas; empty: any."),
    )
    city = forms.CharField(
        label=gettext_lazy("City"),
        required=False,
        help_text=gettext_lazy("Several values separated by commas; empty: any."),
    )
    industry = forms.CharField(
        label=gettext_lazy("Industry"),
        required=False,
        help_text=gettext_lazy("Several values separated by commas; empty: any."),
    )
    tier = forms.MultipleChoiceField(
        label=gettext_lazy("Tier"),
        choices=Tier.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: any tier."),
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = assignable_users(actor).order_by("username")
        style(self)

    @classmethod
    def initial_for(cls, rule: AssignmentRule) -> dict:
        conditions = rule.conditions or {}
        return {
            "name": rule.name,
            "position": rule.position,
            "is_active": rule.is_active,
            "strategy": rule.strategy,
            "first_response_minutes": rule.first_response_minutes,
            "members": list(rule.members.all()),
            "source": conditions.get("source") or [],
            "tier": conditions.get("tier") or [],
            **{key: ", ".join(conditions.get(key) or []) for key in TEXT_CONDITIONS},
        }

    def to_action_input(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "position": data["position"],
            "is_active": data["is_active"],
            "strategy": data["strategy"],
            "first_response_minutes": data["first_response_minutes"],
            "member_ids": [u.pk for u in data["members"]],
            "conditions": {
                "source": data["source"],
                "tier": data["tier"],
                **{key: data[key] for key in TEXT_CONDITIONS},
            },
        }


class HandoverForm(forms.Form):
    from_user = UserChoiceField(label=gettext_lazy("From"), queryset=assignable_users(None).none())
    to_user = UserChoiceField(label=gettext_lazy("To"), queryset=assignable_users(None).none())
    include_tasks = forms.BooleanField(label=gettext_lazy("Include open tasks"), required=False, initial=True)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_user"].queryset = handover_actions.handover_sources(actor).order_by(
            "-is_active", "username"
        )
        self.fields["to_user"].queryset = assignable_users(actor).order_by("username")
        style(self)
