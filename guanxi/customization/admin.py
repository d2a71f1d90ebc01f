"""Django admin for tags (audited like any action); the other customisation rows have their own pages."""

from django.contrib import admin

from guanxi.core.admin import AuditedAdmin
from guanxi.customization.models import Tag


@admin.register(Tag)
class TagAdmin(AuditedAdmin):
    list_display = ("name", "color")
