"""Follow-up and task forms: they shape input; the actions validate it."""

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.customization import registry as customfields
from guanxi.customization.forms_fields import custom_field_name, custom_form_field, custom_initial
from guanxi.customization.models import CustomObject
from guanxi.engagement.fields import follow_up_types
from guanxi.engagement.models import FollowUpKind, FollowUpOutcome, TaskPriority


class FollowUpForm(forms.Form):
    kind = forms.ChoiceField(label=_("Type"), initial=FollowUpKind.CALL)
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[("", "—"), *FollowUpOutcome.choices], required=False
    )
    content = forms.CharField(
        label=_("What happened"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    next_step = forms.CharField(
        label=_("Next step"), required=False, widget=forms.TextInput(attrs={"maxlength": 200})
    )
    next_follow_up_at = forms.DateTimeField(
        label=_("Next follow-up"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [
            (key, customfields._localized(zh, en)) for key, zh, en in follow_up_types()
        ]
        self.custom_keys: list[str] = []
        for key, spec in customfields.Registry(CustomObject.FOLLOW_UP).custom.items():
            name = custom_field_name(key)
            self.fields[name] = custom_form_field(spec)
            default = spec.custom.default
            if default not in (None, "", []):
                self.fields[name].initial = custom_initial(spec, default)
            self.custom_keys.append(key)
        for field in self.fields.values():
            field.widget.attrs["class"] = (
                "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            )

    @property
    def custom_bound_fields(self):
        return [self[f"cf_{key}"] for key in self.custom_keys]

    def to_action_data(self) -> dict:
        data = {k: v for k, v in self.cleaned_data.items() if not k.startswith("cf_")}
        data["custom_fields"] = {key: self.cleaned_data.get(f"cf_{key}") for key in self.custom_keys}
        return data


class TaskForm(forms.Form):
    title = forms.CharField(
        label=_("Title"), required=False, widget=forms.TextInput(attrs={"maxlength": 200})
    )
    due_at = forms.DateTimeField(
        label=_("Due"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"), choices=TaskPriority.choices, coerce=int, initial=TaskPriority.NORMAL
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["class"] = (
                "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            )


def add_action_errors(form: forms.Form, exc) -> None:
    for field, messages in exc.message_dict.items():
        if field.startswith("custom_fields."):
            field = "cf_" + field[len("custom_fields.") :]
        for message in messages:
            form.add_error(field if field in form.fields else None, message)
