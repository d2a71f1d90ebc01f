"""Django admin for approvals: read-mostly views of flows, requests and decisions. Changes go through
the pages and the API (the actions); the admin offers installing the example flow."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from guanxi.approvals import actions
from guanxi.approvals.models import ApprovalDecision, ApprovalFlow, ApprovalRequest, ApprovalStep, Delegation


class StepInline(admin.TabularInline):
    model = ApprovalStep
    extra = 0
    can_delete = False
    readonly_fields = ("position", "name", "mode", "approvers", "timeout_hours", "timeout_action")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ApprovalFlow)
class ApprovalFlowAdmin(admin.ModelAdmin):
    list_display = ("name", "object_type", "trigger", "enabled", "position")
    list_filter = ("object_type", "enabled")
    inlines = [StepInline]
    actions = ["install_example"]
    readonly_fields = ("name", "description", "object_type", "trigger", "conditions", "enabled", "position")

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Install the example deal-discount flow"))
    def install_example(self, request, queryset):
        actions.install_example_flow(actor=request.user)
        messages.success(request, _("The example flow is installed."))


class DecisionInline(admin.TabularInline):
    model = ApprovalDecision
    extra = 0
    can_delete = False
    readonly_fields = (
        "step",
        "slot",
        "approver",
        "escalated",
        "decision",
        "comment",
        "decided_at",
        "decided_by",
        "via",
    )

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    list_display = ("object_repr", "object_type", "flow", "submitter", "status", "created_at", "decided_at")
    list_filter = ("status", "object_type")
    inlines = [DecisionInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Delegation)
class DelegationAdmin(admin.ModelAdmin):
    list_display = ("user", "delegate", "starts_on", "ends_on")
