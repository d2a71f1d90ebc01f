"""The endpoint form. It shapes input only; the actions validate it (the same rules as the API)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from guanxi.webhooks import actions
from guanxi.webhooks.models import DEFAULT_MAX_CONSECUTIVE_FAILURES


class EventTypesField(forms.MultipleChoiceField):
    """Checkboxes of the declared events; a posted name outside them is left for the action to refuse
    with its own message (so the page and the API say the same)."""

    def valid_value(self, value) -> bool:
        return True


class EndpointForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    url = forms.CharField(label=_("URL"), max_length=2000, help_text=_("http:// or https:// only."))
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    event_types = EventTypesField(
        label=_("Event types"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave empty for an endpoint used only by automation rules."),
    )
    max_consecutive_failures = forms.CharField(
        label=_("Disable after consecutive failures"), initial=DEFAULT_MAX_CONSECUTIVE_FAILURES, max_length=20
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = [(name, name) for name in actions.subscribable_events()]
        for name, field in self.fields.items():
            if name != "event_types":
                field.widget.attrs.setdefault("class", "form-control")

    def to_action_data(self) -> dict:
        return dict(self.cleaned_data)

    def add_action_errors(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for field, errors in exc.message_dict.items():
            for error in errors:
                self.add_error(field if field in self.fields else None, error)
