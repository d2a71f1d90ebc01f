"""Customisation endpoints (零代码): custom fields, picklists, tags, form layouts, saved views and the
field registry. Thin callers of `guanxi.customization.actions` (writes) and `guanxi.customization.registry`
(reads); company-wide definitions need `settings.manage` to change, any signed-in user may read them.

Request and response schemas are in `schemas.py`; the live custom fields in the OpenAPI document
in `openapi.py`.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

from ninja import Query, Router, Status

from guanxi.core.converters import as_id
from guanxi.core.exceptions import NotFound, require
from guanxi.core.models import Role
from guanxi.core.permissions import Perm
from guanxi.customization import actions as customization
from guanxi.customization import registry as customfields
from guanxi.customization.models import (
    CustomField,
    CustomObject,
    FieldStatus,
    FormLayout,
    Picklist,
    PicklistValue,
    SavedView,
    Tag,
)
from guanxi.customization.schemas import (
    CustomFieldIn,
    CustomFieldOut,
    CustomFieldPatch,
    FieldListParams,
    FieldOut,
    LayoutIn,
    LayoutOut,
    LayoutParams,
    MergeIn,
    MergeOut,
    PicklistIn,
    PicklistOut,
    PicklistPatch,
    RenameIn,
    TagIn,
    TagListParams,
    TagOut,
    TagPatch,
    ViewIn,
    ViewOut,
    ViewParams,
    ViewPatch,
)

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
