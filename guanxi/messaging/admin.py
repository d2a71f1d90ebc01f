"""Admin for the notification centre: group robots are edited here (audited); notifications,
preferences and deliveries are read-only (they are written by the actions and the worker)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core import crypto
from guanxi.core.admin import AuditedAdmin
from guanxi.messaging.models import ChannelPreference, Delivery, Notification, RobotEndpoint


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _address_only(url: str) -> str:
    """A robot's webhook address without its query (the key / access token is a credential)."""
    return urlsplit(url)._replace(query="", fragment="").geturl() if url else ""


class RobotEndpointForm(forms.ModelForm):
    """The webhook URL (with its key) and the signing secret are stored encrypted and never shown
    again: on an existing robot both fields start empty and empty keeps the stored value."""

    url = forms.URLField(label=_("webhook URL"), max_length=500, required=False, assume_scheme="https",
                         widget=forms.TextInput(attrs={"size": 80, "autocomplete": "off"}))  # fmt: skip
    secret = forms.CharField(label=_("signing secret (DingTalk)"), max_length=200, required=False,
                             widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))  # fmt: skip
    clear_secret = forms.BooleanField(label=_("Remove the signing secret"), required=False)

    class Meta:
        model = RobotEndpoint
        fields = ("name", "channel", "url", "department", "is_active", "secret")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["url"] = ""
        self.initial["secret"] = ""
        if self.instance.pk:
            self.fields["url"].help_text = _(
                "Stored encrypted and not shown again: %(address)s?… Leave empty to keep it."
            ) % {"address": _address_only(self.instance.url)}
            if self.instance.secret:
                self.fields["secret"].help_text = _(
                    "Stored encrypted and not shown again (ends with %(tail)s). Leave empty to keep it."
                ) % {"tail": crypto.mask(self.instance.secret)}

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url") or ""
        if not url and self.instance.pk:
            return self.instance.url
        if not url:
            raise forms.ValidationError(_("This field is required."))
        return url

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("clear_secret"):
            cleaned["secret"] = ""
        elif not cleaned.get("secret") and self.instance.pk:
            cleaned["secret"] = self.instance.secret
        return cleaned


@admin.register(RobotEndpoint)
class RobotEndpointAdmin(AuditedAdmin):
    form = RobotEndpointForm
    list_display = ("name", "channel", "department", "is_active")
    list_filter = ("channel", "is_active")
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("name", "channel", "url", "department", "is_active")}),
        (_("DingTalk signing"), {"fields": ("secret", "clear_secret")}),
    )
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    audit_exclude = ("secret",)  # never copy the signing secret into the audit log

    def _snapshot(self, obj):
        data = super()._snapshot(obj)
        if data.get("url"):
            # The webhook key / access token in the query string is a credential: audit the address only.
            data["url"] = _address_only(data["url"])
        return data


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "channel",
        "target",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
    )
    list_filter = ("status", "channel")
    search_fields = ("target", "last_error")
    readonly_fields = [f.name for f in Delivery._meta.fields]
    list_select_related = ("notification",)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "recipient", "kind", "title", "read_at")
    list_filter = ("kind",)
    search_fields = ("title", "recipient__username")
    readonly_fields = [f.name for f in Notification._meta.fields]
    list_select_related = ("recipient",)


@admin.register(ChannelPreference)
class ChannelPreferenceAdmin(ReadOnlyAdmin):
    list_display = ("user", "channel", "enabled", "digest")
    list_filter = ("channel", "enabled", "digest")
    search_fields = ("user__username",)
    readonly_fields = [f.name for f in ChannelPreference._meta.fields]
    list_select_related = ("user",)
