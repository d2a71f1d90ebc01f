"""Sales in the admin are read-only: pipelines, stages and deals are written by the actions
(settings pages, deal pages, API), which check permissions, validate and audit."""

from django.contrib import admin

from guanxi.sales.models import Deal, Pipeline, Stage


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0
    fields = (
        "position",
        "name_zh",
        "name_en",
        "probability",
        "color",
        "outcome",
        "required_fields",
        "is_active",
    )
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Pipeline)
class PipelineAdmin(ReadOnlyAdmin):
    list_display = ("id", "name_zh", "name_en", "object_type", "is_default", "is_active", "position")
    list_filter = ("object_type", "is_active")
    inlines = [StageInline]


@admin.register(Stage)
class StageAdmin(ReadOnlyAdmin):
    list_display = ("id", "pipeline", "position", "name_zh", "probability", "outcome", "is_active")
    list_filter = ("pipeline", "outcome", "is_active")
    list_select_related = ("pipeline",)


@admin.register(Deal)
class DealAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "customer", "pipeline", "stage", "amount", "owner", "expected_close_date",
                    "closed_at", "updated_at")  # fmt: skip
    list_filter = ("pipeline", "stage__outcome")
    search_fields = ("name", "customer__name")
    list_select_related = ("customer", "pipeline", "stage", "owner")
    raw_id_fields = ("customer", "owner", "created_by")
