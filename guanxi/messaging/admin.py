"""Admin for the notification centre: group robots are edited here (audited); notifications,
preferences and deliveries are read-only (they are written by the actions and the worker)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.admin import AuditedAdmin
from guanxi.messaging.models import ChannelPreference, Delivery, Notification, RobotEndpoint


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RobotEndpoint)
class RobotEndpointAdmin(AuditedAdmin):
    list_display = ("name", "channel", "department", "is_active")
    list_filter = ("channel", "is_active")
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("name", "channel", "url", "department", "is_active")}),
        (_("DingTalk signing"), {"fields": ("secret",)}),
    )
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    audit_exclude = ("secret",)  # never copy the signing secret into the audit log

    def _snapshot(self, obj):
        data = super()._snapshot(obj)
        if data.get("url"):
            # The webhook key / access token in the query string is a credential: audit the address only.
            data["url"] = urlsplit(data["url"])._replace(query="", fragment="").geturl()
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
