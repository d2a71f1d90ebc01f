"""Customers in the admin are read-only: every customer write goes through the actions (pages, API)."""

from django.contrib import admin

from guanxi.customers.models import ContactPoint, Customer


class ContactPointInline(admin.TabularInline):
    model = ContactPoint
    extra = 0
    fields = ("kind", "value", "normalized", "source", "verified", "is_primary")
    readonly_fields = fields
    can_delete = False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "kind",
        "owner",
        "lifecycle_stage",
        "tier",
        "city",
        "created_at",
        "deleted_at",
    )
    list_filter = ("kind", "lifecycle_stage", "tier", "source")
    search_fields = ("name", "name_initials", "name_pinyin")
    list_select_related = ("owner",)
    inlines = [ContactPointInline]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
