"""Django admin: read-only views of endpoints and deliveries (changes go through the settings pages
and the API, which call the actions; the secret is never shown here)."""

from __future__ import annotations

from django.contrib import admin

from guanxi.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "url",
        "is_enabled",
        "consecutive_failures",
        "max_consecutive_failures",
        "disabled_at",
    )
    list_filter = ("is_enabled",)
    search_fields = ("name", "url")
    exclude = ("secret",)


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "status_code", "duration_ms", "error", "next_attempt_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "message_id",
        "endpoint",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
    )
    list_filter = ("status", "origin")
    search_fields = ("message_id", "event_type", "idempotency_key")
    list_select_related = ("endpoint",)
    inlines = [AttemptInline]
