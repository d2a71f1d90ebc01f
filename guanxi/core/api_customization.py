"""Customisation endpoints (零代码): custom fields, picklists, tags, form layouts, saved views and the
field registry. Thin callers of `guanxi.core.customization` (writes) and `guanxi.core.customfields`
(reads); company-wide definitions need `settings.manage` to change, any signed-in user may read them.

`describe_custom_fields(schema)` fills the `<Object>CustomFields` components of the OpenAPI document
from the live definitions at request time (see `guanxi.api.GuanxiAPI`).
"""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace
from typing import Any

from django.db import DatabaseError
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import field_validator

from guanxi.core import customfields, customization
from guanxi.core.converters import MAX_ID, as_id
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import (
    CustomField,
    CustomObject,
    FieldStatus,
    FieldType,
    FormLayout,
    Picklist,
    PicklistValue,
    Role,
    SavedView,
    Tag,
    ViewVisibility,
)
from guanxi.core.permissions import Perm

log = logging.getLogger(__name__)

router = Router(tags=["customisation"])


def _id_or_404(value: Any) -> int:
    pk = as_id(value)
    if pk is None:
        raise NotFound(value)
    return pk


def _object_or_404(object_type: str) -> str:
    object_type = str(object_type)  # a CustomObject member from the path -> its value
    if object_type not in customfields.registered_objects():
        raise NotFound(object_type)
    return object_type


# --------------------------------------------------------------------------- schemas


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


# --------------------------------------------------------------------------- serialisers


def _choice_out(value: PicklistValue) -> dict:
    return {
        "id": value.pk,
        "key": value.key,
        "label_zh": value.label_zh,
        "label_en": value.label_en,
        "position": value.position,
        "color": value.color,
        "is_active": value.is_active,
        "merged_into_id": value.merged_into_id,
    }


def _values_by_picklist(picklist_ids: set[int]) -> dict[int, list[dict]]:
    by_list: dict[int, list[dict]] = {}
    for value in PicklistValue.objects.filter(picklist_id__in=picklist_ids).order_by("position", "id"):
        by_list.setdefault(value.picklist_id, []).append(_choice_out(value))
    return by_list


def _field_out(definition: CustomField, values: list[dict]) -> dict:
    return {
        **{
            name: getattr(definition, name)
            for name in (
                "id",
                "object_type",
                "key",
                "previous_key",
                "label_zh",
                "label_en",
                "type",
                "required",
                "unique",
                "default",
                "regex",
                "max_length",
                "help_zh",
                "help_en",
                "picklist_id",
                "linked_object",
                "position",
                "status",
                "deleted_at",
                "purge_after",
                "created_at",
                "updated_at",
            )
        },  # fmt: skip
        "ref": customfields.PREFIX + definition.key,
        "min_value": float(definition.min_value) if definition.min_value is not None else None,
        "max_value": float(definition.max_value) if definition.max_value is not None else None,
        "choices": values,
    }


def _fields_out(definitions: list[CustomField]) -> list[dict]:
    values = _values_by_picklist({d.picklist_id for d in definitions if d.picklist_id})
    return [_field_out(d, values.get(d.picklist_id, [])) for d in definitions]


def _one_field(field_id: int) -> dict:
    definition = CustomField.objects.filter(pk=field_id).first()
    if definition is None:
        raise NotFound(field_id)
    return _fields_out([definition])[0]


def _picklists_out(picklists: list[Picklist]) -> list[dict]:
    ids = {p.pk for p in picklists}
    values = _values_by_picklist(ids)
    fields: dict[int, list[int]] = {}
    for field_id, picklist_id in (
        CustomField.objects.filter(picklist_id__in=ids)
        .exclude(status=FieldStatus.DELETED)
        .order_by("id")
        .values_list("pk", "picklist_id")
    ):
        fields.setdefault(picklist_id, []).append(field_id)
    return [
        {
            "id": p.pk,
            "key": p.key,
            "label_zh": p.label_zh,
            "label_en": p.label_en,
            "values": values.get(p.pk, []),
            "field_ids": fields.get(p.pk, []),
        }
        for p in picklists
    ]


def _tag_out(tag: Tag) -> dict:
    return {"id": tag.pk, "name": tag.name, "color": tag.color, "object_types": list(tag.object_types or [])}


def _can_edit_view(user, view: SavedView) -> bool:
    return view.owner_id == user.pk or user.has_perm_code(Perm.SETTINGS_MANAGE)


def _view_out(user, view: SavedView) -> dict:
    owner = view.owner
    return {
        "id": view.pk,
        "object_type": view.object_type,
        "name": view.name,
        "owner": {"id": owner.pk, "name": owner.display_name or owner.username},
        "visibility": view.visibility,
        "department_id": view.department_id,
        "columns": [c for c in (view.columns or []) if isinstance(c, str)],
        "filters": [f for f in (view.filters or []) if isinstance(f, dict)],
        "sort": view.sort,
        "kanban_field": view.kanban_field,
        "editable": _can_edit_view(user, view),
        "created_at": view.created_at,
        "updated_at": view.updated_at,
    }


def _layout_out(object_type: str, role_id: int | None) -> dict:
    if role_id is not None and FormLayout.objects.filter(object_type=object_type, role_id=role_id).exists():
        source = "role"
    elif FormLayout.objects.filter(object_type=object_type, role__isnull=True).exists():
        source = "company"
    else:
        source = "default"
    # layout_for reads only the user's role: the same resolution a user of that role gets.
    sections = customization.layout_for(object_type, SimpleNamespace(role_id=role_id))
    return {
        "object_type": object_type,
        "role_id": role_id,
        "source": source,
        "sections": [
            {
                "title_zh": str(s.get("title_zh") or ""),
                "title_en": str(s.get("title_en") or ""),
                "fields": list(s.get("fields") or []),
            }
            for s in sections
        ],
    }


# --------------------------------------------------------------------------- custom fields


@router.get("/custom-fields", response=list[CustomFieldOut], summary="Custom field definitions")
def list_custom_fields(request, params: Query[FieldListParams]):
    qs = CustomField.objects.order_by("object_type", "position", "id")
    if params.object_type:
        qs = qs.filter(object_type=params.object_type)
    if params.status:
        qs = qs.filter(status=params.status)
    return _fields_out(list(qs))


@router.post(
    "/custom-fields",
    response={201: CustomFieldOut},
    summary="Add a custom field (needs settings.manage)",
    description="Select fields take `options` (a picklist is created for them) or an existing `picklist_id`. "
    "The field appears at once on forms, lists, filters, import, export and in this API's schema.",
)
def create_custom_field(request, payload: CustomFieldIn):
    definition = customization.create_custom_field(
        payload.model_dump(mode="json", exclude_unset=True), actor=request.user
    )
    return Status(201, _one_field(definition.pk))


@router.get("/custom-fields/{int:field_id}", response=CustomFieldOut, summary="One custom field definition")
def get_custom_field(request, field_id: int):
    return _one_field(_id_or_404(field_id))


@router.patch(
    "/custom-fields/{int:field_id}",
    response=CustomFieldOut,
    summary="Change a custom field's labels, rules, options or position (needs settings.manage)",
)
def update_custom_field(request, field_id: int, payload: CustomFieldPatch):
    pk = _id_or_404(field_id)
    customization.update_custom_field(
        pk, payload.model_dump(mode="json", exclude_unset=True), actor=request.user
    )
    return _one_field(pk)


@router.delete(
    "/custom-fields/{int:field_id}",
    response={202: CustomFieldOut},
    summary="Delete a custom field (needs settings.manage; restorable during the retention period)",
    description="The field disappears at once; its values are moved to an archive in the background "
    "(status `deleting`, then `deleted`).",
)
def delete_custom_field(request, field_id: int):
    pk = _id_or_404(field_id)
    customization.delete_custom_field(pk, actor=request.user)
    return Status(202, _one_field(pk))


@router.post(
    "/custom-fields/{int:field_id}/rename",
    response={202: CustomFieldOut},
    summary="Give a custom field a new key (needs settings.manage)",
    description="Stored values move to the new key in the background (status `renaming`); both keys are "
    "read meanwhile, and new writes use the new key.",
)
def rename_custom_field(request, field_id: int, payload: RenameIn):
    pk = _id_or_404(field_id)
    customization.rename_custom_field(pk, payload.key, actor=request.user)
    return Status(202, _one_field(pk))


@router.post(
    "/custom-fields/{int:field_id}/restore",
    response={202: CustomFieldOut},
    summary="Restore a deleted custom field and its archived values (needs settings.manage)",
)
def restore_custom_field(request, field_id: int):
    pk = _id_or_404(field_id)
    customization.restore_custom_field(pk, actor=request.user)
    return Status(202, _one_field(pk))


# --------------------------------------------------------------------------- picklists


def _one_picklist(picklist_id: int) -> dict:
    picklist = Picklist.objects.filter(pk=picklist_id).first()
    if picklist is None:
        raise NotFound(picklist_id)
    return _picklists_out([picklist])[0]


@router.get("/picklists", response=list[PicklistOut], summary="Picklists and their values")
def list_picklists(request):
    return _picklists_out(list(Picklist.objects.order_by("key")))


@router.post("/picklists", response={201: PicklistOut}, summary="Add a picklist (needs settings.manage)")
def create_picklist(request, payload: PicklistIn):
    picklist = customization.save_picklist(payload.model_dump(mode="json"), actor=request.user)
    return Status(201, _one_picklist(picklist.pk))


@router.get("/picklists/{int:picklist_id}", response=PicklistOut, summary="One picklist")
def get_picklist(request, picklist_id: int):
    return _one_picklist(_id_or_404(picklist_id))


@router.patch(
    "/picklists/{int:picklist_id}",
    response=PicklistOut,
    summary="Change a picklist's labels or values (needs settings.manage)",
)
def update_picklist(request, picklist_id: int, payload: PicklistPatch):
    pk = _id_or_404(picklist_id)
    customization.save_picklist(
        payload.model_dump(mode="json", exclude_unset=True), actor=request.user, picklist_id=pk
    )
    return _one_picklist(pk)


@router.post(
    "/picklists/{int:picklist_id}/values/{int:value_id}/merge",
    response=MergeOut,
    summary="Merge a picklist value into another (needs settings.manage)",
    description="Every record holding the value gets `into` instead; the value is retired.",
)
def merge_picklist_value(request, picklist_id: int, value_id: int, payload: MergeIn):
    require(request.user, Perm.SETTINGS_MANAGE)
    pk, value_pk = _id_or_404(picklist_id), _id_or_404(value_id)
    if not PicklistValue.objects.filter(pk=value_pk, picklist_id=pk).exists():
        raise NotFound(value_pk)
    records = customization.merge_picklist_value(value_pk, payload.into, actor=request.user)
    return {"records": records}


# --------------------------------------------------------------------------- tags


@router.get("/tags", response=list[TagOut], summary="Tags")
def list_tags(request, params: Query[TagListParams]):
    tags = Tag.objects.order_by("name")
    if params.object_type:
        return [_tag_out(t) for t in tags if customization.tag_allowed(t, params.object_type)]
    return [_tag_out(t) for t in tags]


@router.post("/tags", response={201: TagOut}, summary="Add a tag (needs settings.manage)")
def create_tag(request, payload: TagIn):
    tag = customization.save_tag(payload.model_dump(mode="json"), actor=request.user)
    return Status(201, _tag_out(tag))


@router.patch("/tags/{int:tag_id}", response=TagOut, summary="Change a tag (needs settings.manage)")
def update_tag(request, tag_id: int, payload: TagPatch):
    tag = customization.save_tag(
        payload.model_dump(mode="json", exclude_unset=True), actor=request.user, tag_id=_id_or_404(tag_id)
    )
    return _tag_out(tag)


# --------------------------------------------------------------------------- form layouts


@router.get(
    "/form-layouts/{object_type}",
    response=LayoutOut,
    summary="The form layout of an object (a role's, else the company's, else the default)",
)
def get_form_layout(request, object_type: CustomObject, params: Query[LayoutParams]):
    object_type = _object_or_404(object_type)
    if params.role_id is not None and not Role.objects.filter(pk=params.role_id).exists():
        raise NotFound(params.role_id)
    return _layout_out(object_type, params.role_id)


@router.put(
    "/form-layouts/{object_type}",
    response=LayoutOut,
    summary="Save the form layout of an object, for everyone or one role (needs settings.manage)",
    description="Custom fields left out of every section still appear in a last section (never hidden).",
)
def save_form_layout(request, object_type: CustomObject, payload: LayoutIn, params: Query[LayoutParams]):
    require(request.user, Perm.SETTINGS_MANAGE)
    object_type = _object_or_404(object_type)
    customization.save_form_layout(
        object_type,
        [s.model_dump(mode="json") for s in payload.sections],
        actor=request.user,
        role_id=params.role_id,
    )
    return _layout_out(object_type, params.role_id)


# --------------------------------------------------------------------------- saved views


@router.get("/views", response=list[ViewOut], summary="Saved list views the caller may use")
def list_views(request, params: Query[ViewParams]):
    objects = [params.object_type] if params.object_type else customfields.registered_objects()
    views = [v for o in objects for v in customization.views_for(request.user, o).order_by("name", "id")]
    return [_view_out(request.user, v) for v in views]


@router.post(
    "/views",
    response={201: ViewOut},
    summary="Save a list view (columns, filters, sort, kanban field)",
    description="Anyone may save private views and share them with their department (`team`); "
    "sharing with `everyone` needs settings.manage.",
)
def create_view(request, payload: ViewIn):
    data = payload.model_dump(mode="json", exclude_unset=True)
    object_type = data.pop("object_type")
    view = customization.save_view(object_type, data, actor=request.user)
    return Status(201, _view_out(request.user, SavedView.objects.select_related("owner").get(pk=view.pk)))


@router.patch(
    "/views/{int:view_id}", response=ViewOut, summary="Change a saved view (its owner or settings.manage)"
)
def update_view(request, view_id: int, payload: ViewPatch):
    view = SavedView.objects.filter(pk=_id_or_404(view_id)).first()
    if view is None or not _can_edit_view(request.user, view):
        raise NotFound(view_id)
    customization.save_view(
        view.object_type,
        payload.model_dump(mode="json", exclude_unset=True),
        actor=request.user,
        view_id=view.pk,
    )
    return _view_out(request.user, SavedView.objects.select_related("owner").get(pk=view.pk))


@router.delete(
    "/views/{int:view_id}", response={204: None}, summary="Delete a saved view (its owner or settings.manage)"
)
def delete_view(request, view_id: int):
    customization.delete_view(_id_or_404(view_id), actor=request.user)
    return Status(204, None)


# --------------------------------------------------------------------------- field registry


@router.get(
    "/fields/{object_type}",
    response=list[FieldOut],
    summary="Every field of an object, built-in and custom, with its filter operators",
    description="What filters (`filters` on list endpoints, saved views), automation conditions and "
    "dashboards use: refs, types, labels, choices and the operators each field allows.",
)
def list_fields(request, object_type: CustomObject):
    registry = customfields.Registry(_object_or_404(object_type))
    return [
        {
            "ref": spec.ref,
            "type": spec.type,
            "custom": spec.is_custom,
            "label": spec.label,
            "label_zh": spec.label_zh,
            "label_en": spec.label_en,
            "help_zh": spec.help_zh,
            "help_en": spec.help_en,
            "required": spec.required,
            "filterable": spec.filterable,
            "sortable": spec.sortable,
            "ops": [{"op": op, "label": str(customfields.Op(op).label)} for op in spec.ops]
            if spec.filterable
            else [],
            "choices": [{"key": k, "label_zh": zh, "label_en": en or ""} for k, zh, en in spec.choices],
            "linked_object": (spec.custom.linked_object or None) if spec.is_custom else None,
        }
        for spec in registry.fields()
    ]


# --------------------------------------------------------------------------- OpenAPI


def _nullable(schema: dict) -> dict:
    """Input may send null to clear a value (responses leave empty values out)."""
    schema = dict(schema)
    schema["type"] = [schema["type"], "null"]
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def value_schema(spec: customfields.FieldSpec) -> dict:
    """The JSON Schema of one custom field's value, as sent and returned by the API."""
    definition = spec.custom
    kind = spec.type
    schema: dict[str, Any]
    if kind in (FieldType.TEXT, FieldType.LONG_TEXT, FieldType.PHONE, FieldType.URL):
        limit = (definition.max_length if definition and definition.max_length else None) or (
            customfields.DEFAULT_TEXT_LENGTH.get(kind, 200)
        )
        schema = {"type": "string", "maxLength": limit}
        if kind == FieldType.URL:
            schema["format"] = "uri"
    elif kind == FieldType.EMAIL:
        schema = {"type": "string", "format": "email"}
    elif kind in customfields.NUMERIC_TYPES:
        schema = {"type": "number"}
        if definition is not None and definition.min_value is not None:
            schema["minimum"] = float(definition.min_value)
        if definition is not None and definition.max_value is not None:
            schema["maximum"] = float(definition.max_value)
    elif kind == FieldType.DATE:
        schema = {"type": "string", "format": "date"}
    elif kind == FieldType.DATETIME:
        schema = {"type": "string", "format": "date-time"}
    elif kind == FieldType.BOOLEAN:
        schema = {"type": "boolean"}
    elif kind == FieldType.SINGLE_SELECT:
        schema = {"type": "string", "enum": [key for key, _zh, _en in spec.choices]}
    elif kind == FieldType.MULTI_SELECT:
        schema = {
            "type": "array",
            "items": {"type": "string", "enum": [key for key, _zh, _en in spec.choices]},
            "uniqueItems": True,
        }
    elif kind in customfields.ID_TYPES:
        schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    else:
        schema = {"type": "string"}
    return schema


def _description(spec: customfields.FieldSpec) -> str:
    label = " / ".join(t for t in (spec.label_zh, spec.label_en) if t)
    notes = [label]
    help_text = " / ".join(t for t in (spec.help_zh, spec.help_en) if t)
    if help_text:
        notes.append(help_text)
    definition = spec.custom
    if spec.type in customfields.ID_TYPES:
        target = "user" if spec.type == FieldType.USER else definition.linked_object
        notes.append(f"Id of a {target}.")
    if spec.type == FieldType.MONEY:
        notes.append("At most two decimal places.")
    if spec.type == FieldType.PHONE:
        notes.append("A phone number (stored in E.164 form).")
    if spec.choices:
        notes.append(
            "Choices: " + ", ".join(f"{k} = {zh}" + (f" / {en}" if en else "") for k, zh, en in spec.choices)
        )
    if definition is not None and definition.regex:
        notes.append(f"Must match: {definition.regex}")
    if definition is not None and definition.unique:
        notes.append("Unique among records.")
    if spec.required:
        notes.append("Required.")
    return "\n\n".join(notes)


def custom_fields_schema(object_type: str) -> tuple[dict[str, dict], list[str]]:
    """(properties, keys required on creation) for the live custom fields of an object."""
    registry = customfields.Registry(object_type)
    properties: dict[str, dict] = {}
    required: list[str] = []
    for key, spec in registry.custom.items():
        properties[key] = {
            **_nullable(value_schema(spec)),
            "title": spec.label_zh,
            "description": _description(spec),
            "x-field-type": spec.type,
            "x-ref": spec.ref,
        }
        if spec.required and spec.custom.default in (None, "", []):
            required.append(key)
    return properties, required


# Component name -> (object type, the body schema whose `custom_fields` is a creation). An API
# declares `custom_fields: <Name>` with `class <Name>(RootModel[dict[str, Any]])` to be described;
# names whose component does not exist are skipped.
CUSTOM_FIELD_COMPONENTS = {
    "CustomerCustomFields": ("customer", "CustomerIn"),
    "DealCustomFields": ("deal", "DealIn"),
    "OrderCustomFields": ("order", "OrderIn"),
    "FollowUpCustomFields": ("follow_up", "FollowUpIn"),
}


def describe_custom_fields(openapi: dict) -> None:
    """Fill the custom-field map components of an OpenAPI document from the live definitions."""
    components = openapi.get("components", {}).get("schemas", {})
    for name, (object_type, create_schema) in CUSTOM_FIELD_COMPONENTS.items():
        if name not in components:
            continue
        try:
            properties, required = custom_fields_schema(object_type)
        except DatabaseError:  # no database yet (e.g. exporting the schema before `migrate`)
            log.warning("custom fields left out of the OpenAPI document", exc_info=True)
            continue
        component = dict(components[name])
        component["type"] = "object"
        component["properties"] = properties
        components[name] = component
        body = components.get(create_schema, {}).get("properties", {})
        if "custom_fields" in body:
            create_name = f"{name}Create"
            components[create_name] = {
                "title": create_name,
                "description": f"{name} when creating: fields marked required (without a default) must be given.",
                "allOf": [{"$ref": f"#/components/schemas/{name}"}],
                **({"required": required} if required else {}),
            }
            prop = {k: v for k, v in body["custom_fields"].items() if k not in ("$ref", "anyOf", "allOf")}
            body["custom_fields"] = {**prop, "$ref": f"#/components/schemas/{create_name}"}
