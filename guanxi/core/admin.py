"""Django admin for the organisation and read-only views of the audit log and outbox.

`AuditedAdmin` is the base of every audited admin page (the customisation app's tags use it too).

Admin saves are writes too: they are audited like any action (before/after of the edited fields).
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils.translation import gettext_lazy as _

from guanxi.core import actions, audit
from guanxi.core.models import ApiToken, AuditAction, AuditEntry, Department, Event, EventDelivery, Role, User


class AuditedAdmin(admin.ModelAdmin):
    audit_exclude = ("password", "last_login")

    def _snapshot(self, obj):
        if obj.pk is None:
            return {}
        data = model_to_dict(obj)
        return {k: v for k, v in data.items() if k not in self.audit_exclude}

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            before = self._snapshot(type(obj).objects.get(pk=obj.pk)) if change else {}
            super().save_model(request, obj, form, change)
            after = self._snapshot(obj)
            if change:
                b, a = audit.diff(before, after)
                if a:
                    audit.record(AuditAction.UPDATE, obj, actor=request.user, before=b, after=a)
            else:
                audit.record(AuditAction.CREATE, obj, actor=request.user, before=None, after=after)

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit.record(AuditAction.DELETE, obj, actor=request.user, before=self._snapshot(obj), after=None)
            super().delete_model(request, obj)


@admin.register(Department)
class DepartmentAdmin(AuditedAdmin):
    list_display = ("name", "parent", "path")
    search_fields = ("name",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        path = f"{obj.parent.path if obj.parent else '/'}{obj.pk}/"
        if obj.path != path:
            # Moving a department moves its subtree: rewrite the descendants' paths too.
            old = obj.path
            Department.objects.filter(pk=obj.pk).update(path=path)
            if old:
                for child in Department.objects.filter(path__startswith=old).exclude(pk=obj.pk):
                    Department.objects.filter(pk=child.pk).update(path=path + child.path[len(old) :])


@admin.register(Role)
class RoleAdmin(AuditedAdmin):
    list_display = ("code", "name", "data_scope")


@admin.register(User)
class UserAdmin(AuditedAdmin, BaseUserAdmin):
    list_display = ("username", "display_name", "department", "role", "manager", "is_active")
    list_filter = ("is_active", "role", "department")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (_("Organisation"), {"fields": ("display_name", "department", "manager", "role", "mobile")}),
    )


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_label", "action", "content_type", "object_repr", "request_id")
    list_filter = ("action", "content_type")
    search_fields = ("object_repr", "actor_label", "request_id")
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(AuditEntryAdmin):
    list_display = ("id", "created_at", "name", "object_id", "depth", "processed_at", "attempts")
    list_filter = ("name",)
    search_fields = ("name", "request_id")
    readonly_fields = [f.name for f in Event._meta.fields]


@admin.register(EventDelivery)
class EventDeliveryAdmin(AuditEntryAdmin):
    """Read-only; dead letters are retried through the action (also on Settings → failed deliveries)."""

    list_display = ("id", "event", "subscriber", "status", "attempts", "next_attempt_at", "updated_at")
    list_filter = ("status", "subscriber")
    search_fields = ("subscriber", "event__name", "last_error")
    readonly_fields = [f.name for f in EventDelivery._meta.fields]
    actions = ["retry_dead_letters"]

    @admin.action(description=_("Retry the selected dead letters"))
    def retry_dead_letters(self, request, queryset):
        count = actions.retry_dead_letters(list(queryset.values_list("pk", flat=True)), actor=request.user)
        self.message_user(request, _("%(count)d delivery(ies) will be retried.") % {"count": count})


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False  # tokens are created on the API tokens page, where the secret is shown once
