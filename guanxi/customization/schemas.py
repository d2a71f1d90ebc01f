"""Request and response schemas of the customisation API (`api.py`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _
from ninja import Field, Schema
from pydantic import field_validator

from guanxi.core.converters import MAX_ID
from guanxi.customization.models import (
    CustomObject,
    FieldStatus,
    FieldType,
    ViewVisibility,
)


def storable_problem(value: Any) -> str | None:
    """Why a JSON value cannot be stored (PostgreSQL text and jsonb refuse NUL; no database takes lone
    surrogates), or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return _("Text must not contain NUL characters.")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return _("Text must be valid Unicode.")
    return None


class Input(Schema):
    """A request body: every value must be storable (checked before the action sees it)."""

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        problem = storable_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class OptionIn(Input):
    key: str = Field("", description="Stored value; defaults to the Chinese label. No commas or separators.")
    label_zh: str
    label_en: str = ""


class ChoiceOut(Schema):
    id: int
    key: str
    label_zh: str
    label_en: str
    position: int
    color: str
    is_active: bool
    merged_into_id: int | None


class CustomFieldIn(Input):
    object_type: CustomObject
    key: str = Field(..., description="1-40 lowercase letters, digits, underscores; starts with a letter.")
    label_zh: str
    label_en: str = ""
    type: FieldType
    required: bool = False
    unique: bool = False
    default: Any = Field(None, description="Value given to new records that do not set this field.")
    regex: str = Field("", description="Text values must match this regular expression (whole value).")
    min_value: float | None = None
    max_value: float | None = None
    max_length: int | None = Field(None, ge=1, le=5000)
    help_zh: str = ""
    help_en: str = ""
    picklist_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Select fields: share an existing picklist..."
    )
    options: list[OptionIn] | None = Field(
        None, description="...or give the options (a picklist is created)."
    )
    linked_object: CustomObject | None = Field(
        None, description="Linked-record fields: the object linked to."
    )
    position: int = Field(0, ge=0, lt=2**31)


class CustomFieldPatch(Input):
    label_zh: str | None = None
    label_en: str | None = None
    type: FieldType | None = Field(None, description="Only changes that keep every stored value valid.")
    required: bool | None = None
    unique: bool | None = None
    default: Any = None
    regex: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    max_length: int | None = Field(None, ge=1, le=5000)
    help_zh: str | None = None
    help_en: str | None = None
    picklist_id: int | None = Field(None, ge=1, le=MAX_ID)
    options: list[OptionIn] | None = Field(None, description="Options to add to the field's picklist.")
    position: int | None = Field(None, ge=0, lt=2**31)


class CustomFieldOut(Schema):
    id: int
    object_type: str
    key: str
    previous_key: str = Field(..., description="The old key while a rename is being applied, else empty.")
    ref: str = Field(..., description='The field\'s name in views, filters and layouts: "cf.<key>".')
    label_zh: str
    label_en: str
    type: str
    required: bool
    unique: bool
    default: Any
    regex: str
    min_value: float | None
    max_value: float | None
    max_length: int | None
    help_zh: str
    help_en: str
    picklist_id: int | None
    linked_object: str
    position: int
    status: str = Field(..., description="active, renaming, deleting, deleted (restorable) or restoring.")
    deleted_at: dt.datetime | None
    purge_after: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    choices: list[ChoiceOut]


class FieldListParams(Schema):
    object_type: CustomObject | None = None
    status: FieldStatus | None = None


class RenameIn(Input):
    key: str


class PicklistIn(Input):
    key: str = Field(..., description="1-50 lowercase letters, digits and dashes.")
    label_zh: str
    label_en: str = ""
    values: list[OptionIn] = []


class PicklistPatch(Input):
    label_zh: str | None = None
    label_en: str | None = None
    values: list[OptionIn] | None = Field(
        None, description="The full list in order; values left out are retired (refused while in use)."
    )


class PicklistOut(Schema):
    id: int
    key: str
    label_zh: str
    label_en: str
    values: list[ChoiceOut]
    field_ids: list[int] = Field(..., description="Custom fields using this picklist.")


class MergeIn(Schema):
    into: int = Field(..., ge=1, le=MAX_ID, description="Id of the value of the same picklist to keep.")


class MergeOut(Schema):
    records: int = Field(..., description="Records whose value was replaced.")


class TagIn(Input):
    name: str
    color: str = Field(
        "secondary", description="#rrggbb or primary/secondary/success/danger/warning/info/dark"
    )
    object_types: list[CustomObject] = Field([], description="Objects this tag may be put on; empty: any.")


class TagPatch(Input):
    name: str | None = None
    color: str | None = None
    object_types: list[CustomObject] | None = None


class TagOut(Schema):
    id: int
    name: str
    color: str
    object_types: list[str]


class TagListParams(Schema):
    object_type: CustomObject | None = Field(None, description="Only tags allowed on this object.")


class SectionIn(Input):
    title_zh: str
    title_en: str = ""
    fields: list[str] = Field([], description='Field refs: "name", "owner", "cf.<key>"...')


class SectionOut(Schema):
    title_zh: str
    title_en: str
    fields: list[str]


class LayoutIn(Input):
    sections: list[SectionIn]


class LayoutParams(Schema):
    role_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="A role's own layout; omit for the company's."
    )


class LayoutOut(Schema):
    object_type: str
    role_id: int | None
    source: str = Field(..., description="role, company or default: which layout these sections come from.")
    sections: list[SectionOut]


class ConditionIn(Input):
    field: str = Field(..., description='A field ref: "owner", "cf.<key>"...')
    op: str = Field("eq", description="An operator the field allows (GET /api/fields/{object_type}).")
    value: Any = None


class ViewIn(Input):
    object_type: CustomObject
    name: str
    visibility: ViewVisibility = ViewVisibility.PRIVATE
    columns: list[str] = []
    filters: list[ConditionIn] = []
    sort: str = Field("", description='A field ref, "-" first for descending.')
    kanban_field: str = Field("", description="A single-select field to show the list as a kanban.")


class ViewPatch(Input):
    name: str | None = None
    visibility: ViewVisibility | None = None
    columns: list[str] | None = None
    filters: list[ConditionIn] | None = None
    sort: str | None = None
    kanban_field: str | None = None


class ViewParams(Schema):
    object_type: CustomObject | None = None


class UserRef(Schema):
    id: int
    name: str


class ViewOut(Schema):
    id: int
    object_type: str
    name: str
    owner: UserRef
    visibility: str
    department_id: int | None
    columns: list[str]
    filters: list[dict[str, Any]]
    sort: str
    kanban_field: str
    editable: bool = Field(..., description="Whether the caller may change or delete it.")
    created_at: dt.datetime
    updated_at: dt.datetime


class OpOut(Schema):
    op: str
    label: str


class FieldChoiceOut(Schema):
    key: str
    label_zh: str
    label_en: str


class FieldOut(Schema):
    ref: str = Field(..., description='"name", "owner"... for built-in fields, "cf.<key>" for custom ones.')
    type: str
    custom: bool
    label: str
    label_zh: str
    label_en: str
    help_zh: str
    help_en: str
    required: bool
    filterable: bool
    sortable: bool
    ops: list[OpOut]
    choices: list[FieldChoiceOut]
    linked_object: str | None
