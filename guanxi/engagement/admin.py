"""Admin for the follow-up engine's settings: public pools and cadences (edits are audited)."""

from django.contrib import admin

from guanxi.core.admin import AuditedAdmin
from guanxi.engagement.models import Cadence, CadenceStep, Pool


@admin.register(Pool)
class PoolAdmin(AuditedAdmin):
    list_display = ("name", "is_default", "no_follow_up_days", "no_deal_days", "warn_days", "claim_limit",
                    "cooldown_days")  # fmt: skip
    filter_horizontal = ("departments",)


class CadenceStepInline(admin.TabularInline):
    model = CadenceStep
    extra = 1
    fields = ("position", "offset_hours", "kind", "title")


@admin.register(Cadence)
class CadenceAdmin(AuditedAdmin):
    list_display = ("name", "tier", "lifecycle_stage", "repeat_every_days", "is_active")
    inlines = [CadenceStepInline]
