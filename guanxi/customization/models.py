"""Customisation (零代码): custom field definitions, picklists, tags, form layouts, saved views.

These models were born in `core` and moved here with state-only migrations: their tables keep the
`core_` names (`Meta.db_table`), so no data moved.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import Department, Role, User


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    color = models.CharField(_("colour"), max_length=20, default="secondary")
    # Object types this tag may be put on (CustomObject values); empty: any.
    object_types = models.JSONField(_("object types"), default=list, blank=True)

    class Meta:
        db_table = "core_tag"
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class CustomObject(models.TextChoices):
    """Objects that carry custom fields, form layouts and saved list views."""

    CUSTOMER = "customer", _("Customer")
    DEAL = "deal", _("Deal")
    ORDER = "order", _("Order")
    FOLLOW_UP = "follow_up", _("Follow-up")


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    LONG_TEXT = "long_text", _("Long text")
    NUMBER = "number", _("Number")
    MONEY = "money", _("Money")
    DATE = "date", _("Date")
    DATETIME = "datetime", _("Date and time")
    BOOLEAN = "boolean", _("Yes / no")
    SINGLE_SELECT = "single_select", _("Single select")
    MULTI_SELECT = "multi_select", _("Multi select")
    USER = "user", _("User")
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("Email")
    URL = "url", _("URL")
    LINKED_RECORD = "linked_record", _("Linked record")


class FieldStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    RENAMING = "renaming", _("Renaming")
    DELETING = "deleting", _("Deleting")
    DELETED = "deleted", _("Deleted (recoverable)")
    RESTORING = "restoring", _("Restoring")


class Picklist(models.Model):
    """A list of choices editable by administrators (sources, industries, lost reasons...)."""

    key = models.SlugField(_("key"), max_length=50, unique=True)
    label_zh = models.CharField(_("Chinese label"), max_length=100)
    label_en = models.CharField(_("English label"), max_length=100, blank=True)

    class Meta:
        db_table = "core_picklist"
        ordering = ["key"]
        verbose_name = _("picklist")
        verbose_name_plural = _("picklists")

    def __str__(self) -> str:
        return self.label_zh


class PicklistValue(models.Model):
    picklist = models.ForeignKey(Picklist, on_delete=models.CASCADE, related_name="values")
    # What is stored on records; labels may change, the key does not.
    key = models.CharField(_("value"), max_length=50)
    label_zh = models.CharField(_("Chinese label"), max_length=100)
    label_en = models.CharField(_("English label"), max_length=100, blank=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    color = models.CharField(_("colour"), max_length=20, default="secondary")
    is_active = models.BooleanField(_("active"), default=True)
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("merged into"),
    )

    class Meta:
        db_table = "core_picklistvalue"
        ordering = ["picklist", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["picklist", "key"], name="picklist_value_key_unique")]
        verbose_name = _("picklist value")
        verbose_name_plural = _("picklist values")

    def __str__(self) -> str:
        return self.label_zh


class CustomField(models.Model):
    """A custom field definition; values live in the object's `custom_fields` JSON column."""

    object_type = models.CharField(_("object"), max_length=20, choices=CustomObject.choices)
    key = models.CharField(_("key"), max_length=40)
    # Set while a rename rewrites stored values: rows not yet rewritten still use this key.
    previous_key = models.CharField(max_length=40, blank=True, editable=False)
    label_zh = models.CharField(_("Chinese label"), max_length=100)
    label_en = models.CharField(_("English label"), max_length=100, blank=True)
    type = models.CharField(_("type"), max_length=20, choices=FieldType.choices)
    required = models.BooleanField(_("required"), default=False)
    unique = models.BooleanField(_("unique"), default=False)
    default = models.JSONField(_("default"), null=True, blank=True)
    regex = models.CharField(_("validation pattern"), max_length=200, blank=True)
    min_value = models.DecimalField(_("minimum"), max_digits=20, decimal_places=4, null=True, blank=True)
    max_value = models.DecimalField(_("maximum"), max_digits=20, decimal_places=4, null=True, blank=True)
    max_length = models.PositiveIntegerField(_("maximum length"), null=True, blank=True)
    help_zh = models.CharField(_("Chinese help text"), max_length=300, blank=True)
    help_en = models.CharField(_("English help text"), max_length=300, blank=True)
    picklist = models.ForeignKey(
        Picklist,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="fields",
        verbose_name=_("picklist"),
    )
    linked_object = models.CharField(
        _("linked object"), max_length=20, choices=CustomObject.choices, blank=True
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    status = models.CharField(max_length=20, choices=FieldStatus.choices, default=FieldStatus.ACTIVE)
    deleted_at = models.DateTimeField(null=True, blank=True)
    purge_after = models.DateTimeField(null=True, blank=True)
    # Progress of the background rewrite (rename, delete, restore): last object id done.
    rewrite_cursor = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "core_customfield"
        ordering = ["object_type", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["object_type", "key"],
                condition=~models.Q(status="deleted"),
                name="custom_field_key_unique",
            )
        ]
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")

    def __str__(self) -> str:
        return f"{self.object_type}.{self.key}"


class CustomFieldArchive(models.Model):
    """Values of a deleted custom field, kept for the retention period so the delete can be undone."""

    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="archived_values")
    object_id = models.BigIntegerField()
    value = models.JSONField()

    class Meta:
        db_table = "core_customfieldarchive"
        indexes = [models.Index(fields=["field", "object_id"], name="cf_archive_field_idx")]

    def __str__(self) -> str:
        return f"{self.field_id}:{self.object_id}"


class FormLayout(models.Model):
    """Which fields appear in which section of an object's create/edit/detail pages (optionally per role)."""

    object_type = models.CharField(_("object"), max_length=20, choices=CustomObject.choices)
    role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.CASCADE, verbose_name=_("role"))
    # [{"title_zh": ..., "title_en": ..., "fields": ["name", "phone", "cf.source_detail"]}]
    sections = models.JSONField(_("sections"), default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "core_formlayout"
        constraints = [
            models.UniqueConstraint(
                fields=["object_type"],
                condition=models.Q(role__isnull=True),
                name="form_layout_default_unique",
            ),
            models.UniqueConstraint(fields=["object_type", "role"], name="form_layout_role_unique"),
        ]
        verbose_name = _("form layout")
        verbose_name_plural = _("form layouts")

    def __str__(self) -> str:
        return f"{self.object_type} ({self.role or '-'})"


class ViewVisibility(models.TextChoices):
    PRIVATE = "private", _("Only me")
    TEAM = "team", _("My team (department)")
    EVERYONE = "everyone", _("Everyone")


class SavedView(models.Model):
    """A list view: columns, sort, filters and an optional kanban field, saved by a user."""

    object_type = models.CharField(_("object"), max_length=20, choices=CustomObject.choices)
    name = models.CharField(_("name"), max_length=100)
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="saved_views")
    visibility = models.CharField(
        _("shared with"), max_length=20, choices=ViewVisibility.choices, default=ViewVisibility.PRIVATE
    )
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("team")
    )
    columns = models.JSONField(_("columns"), default=list, blank=True)
    filters = models.JSONField(_("filters"), default=list, blank=True)
    sort = models.CharField(_("sort"), max_length=60, blank=True)
    kanban_field = models.CharField(_("kanban by"), max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "core_savedview"
        ordering = ["object_type", "name", "id"]
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")

    def __str__(self) -> str:
        return self.name
