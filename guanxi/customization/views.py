"""Settings pages of the customisation layer (零代码): custom fields, picklists, tags, form layouts.

Thin callers of `guanxi.customization.actions`: the forms shape input, the actions check permission,
validate and write. Every page also checks `settings.manage` first, so a user without it gets a 403
before anything is read or written.
"""

from __future__ import annotations

from types import SimpleNamespace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from guanxi.core.converters import as_id, as_int
from guanxi.core.exceptions import require
from guanxi.core.models import Role
from guanxi.core.permissions import Perm
from guanxi.customization import actions as customization
from guanxi.customization import registry as customfields
from guanxi.customization.forms import (
    CustomFieldForm,
    MergeValueForm,
    PicklistForm,
    PicklistValueFormSet,
    RenameFieldForm,
    TagForm,
    add_action_errors,
    object_choices,
)
from guanxi.customization.models import (
    CustomField,
    CustomObject,
    FieldStatus,
    FieldType,
    FormLayout,
    Picklist,
    Tag,
)

IN_PROGRESS = (FieldStatus.RENAMING, FieldStatus.DELETING, FieldStatus.RESTORING)
SPARE_SECTIONS = 2


def _object_type(request) -> str:
    objects = customfields.registered_objects()
    wanted = request.GET.get("object") or request.POST.get("object") or ""
    if wanted in objects:
        return wanted
    if not objects:
        raise Http404
    return objects[0]


def _fields_url(object_type: str) -> str:
    return f"{reverse('customization:fields')}?object={object_type}"


def _field_or_404(pk: int) -> CustomField:
    definition = CustomField.objects.select_related("picklist").filter(pk=pk).first()
    if definition is None or definition.object_type not in customfields.registered_objects():
        raise Http404
    return definition


def _with_progress(definitions: list[CustomField]) -> list[CustomField]:
    """Percent done of each running rewrite (the cursor is the last object id rewritten)."""
    highest: dict[str, int] = {}
    for definition in definitions:
        definition.in_progress = definition.status in IN_PROGRESS
        definition.progress = None
        if not definition.in_progress:
            continue
        if definition.object_type not in highest:
            model = customfields.object_spec(definition.object_type).model
            highest[definition.object_type] = model._base_manager.aggregate(top=Max("pk"))["top"] or 0
        top = highest[definition.object_type]
        definition.progress = min(99, definition.rewrite_cursor * 100 // top) if top else 0
    return definitions


def _labels(choices) -> dict[str, str]:
    return {str(value): label for value, label in choices}


# --------------------------------------------------------------------------- custom fields


@login_required
def index(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    return redirect("customization:fields")


@login_required
@require_GET
def field_list(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    object_type = _object_type(request)
    definitions = list(
        CustomField.objects.filter(object_type=object_type)
        .select_related("picklist")
        .order_by("position", "id")
    )
    # Live fields first (in form order), then deleted ones, newest deletion first.
    live = [d for d in definitions if d.status != FieldStatus.DELETED]
    deleted = sorted(
        (d for d in definitions if d.status == FieldStatus.DELETED),
        key=lambda d: d.deleted_at.timestamp() if d.deleted_at else 0,
        reverse=True,
    )
    counts = dict(
        CustomField.objects.exclude(status=FieldStatus.DELETED)
        .values_list("object_type")
        .annotate(n=Count("id"))
        .values_list("object_type", "n")
    )
    context = {
        "active_tab": "fields",
        "object_type": object_type,
        "objects": [(value, label, counts.get(value, 0)) for value, label in object_choices()],
        "fields": _with_progress(live + deleted),
        "object_labels": _labels(CustomObject.choices),
    }
    return render(request, "customization/fields.html", context)


@login_required
@require_GET
def field_row(request, pk: int):
    """One row of the field table; polled by htmx while a rename/delete/restore runs."""
    require(request.user, Perm.SETTINGS_MANAGE)
    definition = _with_progress([_field_or_404(pk)])[0]
    return render(
        request,
        "customization/_field_row.html",
        {"field": definition, "object_labels": _labels(CustomObject.choices)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def field_create(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    object_type = _object_type(request)
    if request.method == "POST":
        form = CustomFieldForm(request.POST)
        if form.is_valid():
            try:
                definition = customization.create_custom_field(form.to_action_input(), actor=request.user)
            except ValidationError as exc:
                add_action_errors(form, exc)
            else:
                messages.success(
                    request, _("Custom field “%(label)s” created.") % {"label": definition.label_zh}
                )
                return redirect(_fields_url(definition.object_type))
    else:
        form = CustomFieldForm(initial={"object_type": object_type, "type": FieldType.TEXT})
    return render(
        request,
        "customization/field_form.html",
        {"form": form, "field": None, "object_type": form["object_type"].value() or object_type},
    )


@login_required
@require_http_methods(["GET", "POST"])
def field_edit(request, pk: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    definition = _field_or_404(pk)
    if request.method == "POST":
        form = CustomFieldForm(request.POST, definition=definition)
        if form.is_valid():
            try:
                saved = customization.update_custom_field(
                    definition.pk, form.to_action_input(), actor=request.user
                )
            except ValidationError as exc:
                add_action_errors(form, exc)
            else:
                messages.success(request, _("Custom field “%(label)s” saved.") % {"label": saved.label_zh})
                return redirect(_fields_url(saved.object_type))
    else:
        form = CustomFieldForm(initial=CustomFieldForm.initial_for(definition), definition=definition)
    return render(
        request,
        "customization/field_form.html",
        {"form": form, "field": definition, "object_type": definition.object_type},
    )


@login_required
@require_http_methods(["GET", "POST"])
def field_rename(request, pk: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    definition = _field_or_404(pk)
    if request.method == "POST":
        form = RenameFieldForm(request.POST)
        if form.is_valid():
            old_key = definition.key
            try:
                saved = customization.rename_custom_field(
                    definition.pk, form.cleaned_data["key"], actor=request.user
                )
            except ValidationError as exc:
                add_action_errors(form, exc)
            else:
                if saved.key != old_key:
                    messages.success(
                        request,
                        _("Renaming %(old)s to %(new)s: stored values are moved in the background.")
                        % {"old": old_key, "new": saved.key},
                    )
                return redirect(_fields_url(saved.object_type))
    else:
        form = RenameFieldForm(initial={"key": definition.key})
    return render(request, "customization/field_rename.html", {"form": form, "field": definition})


@login_required
@require_http_methods(["GET", "POST"])
def field_delete(request, pk: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    definition = _field_or_404(pk)
    error = None
    if request.method == "POST":
        try:
            saved = customization.delete_custom_field(definition.pk, actor=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(
                request,
                _("Custom field “%(label)s” deleted. It can be restored until %(date)s.")
                % {"label": saved.label_zh, "date": saved.purge_after.date().isoformat()},
            )
            return redirect(_fields_url(saved.object_type))
    return render(
        request,
        "customization/field_delete.html",
        {"field": definition, "error": error, "retention_days": customization.retention_days()},
    )


@login_required
@require_POST
def field_restore(request, pk: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    definition = _field_or_404(pk)
    try:
        saved = customization.restore_custom_field(definition.pk, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Restoring “%(label)s”: its values are put back in the background.")
            % {"label": saved.label_zh},
        )
    return redirect(_fields_url(definition.object_type))


# --------------------------------------------------------------------------- picklists


@login_required
@require_GET
def picklist_list(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    picklists = (
        Picklist.objects.annotate(active_values=Count("values", filter=Q(values__is_active=True)))
        .prefetch_related("fields")
        .order_by("key")
    )
    return render(
        request,
        "customization/picklists.html",
        {
            "active_tab": "picklists",
            "picklists": picklists,
            "live_statuses": [str(s) for s in customfields.LIVE_STATUSES],
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def picklist_create(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    form = PicklistForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            picklist = customization.save_picklist(dict(form.cleaned_data), actor=request.user)
        except ValidationError as exc:
            add_action_errors(form, exc)
        else:
            messages.success(request, _("Picklist “%(label)s” created.") % {"label": picklist.label_zh})
            return redirect("customization:picklist_edit", pk=picklist.pk)
    return render(request, "customization/picklist_create.html", {"form": form, "active_tab": "picklists"})


def _value_rows(picklist: Picklist) -> list[dict]:
    return [
        {
            "existing": "1",
            "key": v.key,
            "label_zh": v.label_zh,
            "label_en": v.label_en,
            "position": v.position + 1,
            "color": v.color,
        }
        for v in picklist.values.filter(is_active=True).order_by("position", "id")
    ]


def _values_input(formset) -> list[dict]:
    """Rows of the values table in their new order (by the order column, then as listed)."""
    rows = []
    for index, form in enumerate(formset.forms):
        data = form.cleaned_data
        if not data or data.get("remove"):
            continue
        key = (data.get("key") or "").strip()
        zh = (data.get("label_zh") or "").strip()
        if not data.get("existing") and not key and not zh:
            continue  # an unused blank row
        order = data.get("position")
        rows.append(
            (
                order if order is not None else 10**9,
                index,
                {
                    "key": key or zh,
                    "label_zh": zh,
                    "label_en": data.get("label_en") or "",
                    "color": data.get("color") or "secondary",
                },
            )
        )
    return [row for _order, _index, row in sorted(rows, key=lambda r: (r[0], r[1]))]


@login_required
@require_http_methods(["GET", "POST"])
def picklist_edit(request, pk: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    picklist = Picklist.objects.filter(pk=pk).first()
    if picklist is None:
        raise Http404
    if request.method == "POST":
        form = PicklistForm(request.POST, picklist=picklist)
        formset = PicklistValueFormSet(request.POST, prefix="values")
        if form.is_valid() and formset.is_valid():
            data = {
                "label_zh": form.cleaned_data["label_zh"],
                "label_en": form.cleaned_data["label_en"],
                "values": _values_input(formset),
            }
            try:
                saved = customization.save_picklist(data, actor=request.user, picklist_id=picklist.pk)
            except ValidationError as exc:
                add_action_errors(form, exc)
            else:
                messages.success(request, _("Picklist “%(label)s” saved.") % {"label": saved.label_zh})
                return redirect("customization:picklist_edit", pk=saved.pk)
    else:
        form = PicklistForm(
            initial={"label_zh": picklist.label_zh, "label_en": picklist.label_en}, picklist=picklist
        )
        formset = PicklistValueFormSet(initial=_value_rows(picklist), prefix="values")
    retired = picklist.values.filter(is_active=False).select_related("merged_into").order_by("position", "id")
    fields = picklist.fields.filter(status__in=customfields.LIVE_STATUSES).order_by("object_type", "position")
    return render(
        request,
        "customization/picklist_edit.html",
        {
            "active_tab": "picklists",
            "picklist": picklist,
            "form": form,
            "formset": formset,
            "merge_form": MergeValueForm(picklist=picklist),
            "retired": retired,
            "fields": fields,
            "object_labels": _labels(CustomObject.choices),
        },
    )


@login_required
@require_POST
def picklist_merge(request, pk: int):
    require(request.user, Perm.SETTINGS_MANAGE)
    picklist = Picklist.objects.filter(pk=pk).first()
    if picklist is None:
        raise Http404
    form = MergeValueForm(request.POST, picklist=picklist)
    if not form.is_valid():
        messages.error(request, _("Choose two values of this picklist."))
        return redirect("customization:picklist_edit", pk=picklist.pk)
    value = picklist.values.get(pk=form.cleaned_data["value"])
    target = picklist.values.get(pk=form.cleaned_data["into"])
    try:
        changed = customization.merge_picklist_value(value.pk, target.pk, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("%(value)s merged into %(into)s: %(count)d record(s) changed.")
            % {"value": value.label_zh, "into": target.label_zh, "count": changed},
        )
    return redirect("customization:picklist_edit", pk=picklist.pk)


# --------------------------------------------------------------------------- tags


@login_required
@require_GET
def tag_list(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    tags = list(Tag.objects.annotate(customer_count=Count("customers")).order_by("name"))
    labels = _labels(CustomObject.choices)
    for tag in tags:
        tag.type_labels = [labels.get(t, t) for t in tag.object_types or []]
    return render(request, "customization/tags.html", {"active_tab": "tags", "tags": tags})


@login_required
@require_http_methods(["GET", "POST"])
def tag_edit(request, pk: int | None = None):
    require(request.user, Perm.SETTINGS_MANAGE)
    tag = None
    if pk is not None:
        tag = Tag.objects.filter(pk=pk).first()
        if tag is None:
            raise Http404
    if request.method == "POST":
        form = TagForm(request.POST)
        if form.is_valid():
            try:
                saved = customization.save_tag(
                    form.to_action_input(), actor=request.user, tag_id=tag.pk if tag else None
                )
            except ValidationError as exc:
                add_action_errors(form, exc)
            else:
                messages.success(request, _("Tag “%(name)s” saved.") % {"name": saved.name})
                return redirect("customization:tags")
    else:
        form = TagForm(initial=TagForm.initial_for(tag) if tag else {"color": "secondary"})
    return render(request, "customization/tag_form.html", {"form": form, "tag": tag, "active_tab": "tags"})


# --------------------------------------------------------------------------- form layouts


def _slug(ref: str) -> str:
    return ref.replace(".", "-")


def _layout_fields(object_type: str, registry: customfields.Registry, sections: list[dict]) -> list:
    """Fields that can go on the form: those of the default layout, custom fields, and any already placed."""
    refs = [f for s in customization.default_layout(object_type) for f in s.get("fields", [])]
    refs += [f for s in sections for f in s.get("fields", [])]
    refs += [spec.ref for spec in registry.custom.values()]
    specs = []
    for ref in dict.fromkeys(refs):
        spec = registry.get(ref)
        if spec is not None:
            specs.append(spec)
    return specs


def _posted_sections(post, specs) -> list[dict]:
    """Sections as typed on the page: titles, and each field's section number and order."""
    count = min(as_int(post.get("section_count"), minimum=0) or 0, 50)
    sections = [
        {
            "title_zh": (post.get(f"section-{n}-title_zh") or "").strip(),
            "title_en": (post.get(f"section-{n}-title_en") or "").strip(),
            "fields": [],
        }
        for n in range(1, count + 1)
    ]
    placed: list[tuple[int, float, int, int, str]] = []
    for index, spec in enumerate(specs):
        prefix = f"place-{_slug(spec.ref)}"
        number = as_id(post.get(f"{prefix}-section") or "")
        if number is None or number > count:
            continue
        position = post.get(f"{prefix}-position") or ""
        try:
            order = float(position or "inf")
        except ValueError:
            order = float("inf")
        # On a tie, a field just moved to this place goes before the one that was there.
        moved = post.get(f"{prefix}-was") != f"{number}:{position}"
        placed.append((number, order, 0 if moved else 1, index, spec.ref))
    for number, _order, _moved, _index, ref in sorted(placed):
        sections[number - 1]["fields"].append(ref)
    return sections


@login_required
@require_http_methods(["GET", "POST"])
def layout_edit(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    object_type = _object_type(request)
    role_id = as_id(request.GET.get("role") or request.POST.get("role") or "")
    roles = list(Role.objects.order_by("name"))
    role = next((r for r in roles if r.pk == role_id), None)
    if role_id is not None and role is None:
        raise Http404
    registry = customfields.Registry(object_type)
    own_layout = FormLayout.objects.filter(object_type=object_type, role_id=role_id).exists()
    errors: list[str] = []
    if request.method == "POST":
        current = customization.layout_for(object_type, SimpleNamespace(role_id=role_id))
        specs = _layout_fields(object_type, registry, current)
        sections = _posted_sections(request.POST, specs)
        try:
            customization.save_form_layout(
                object_type,
                [s for s in sections if s["title_zh"] or s["title_en"] or s["fields"]],
                actor=request.user,
                role_id=role_id,
            )
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, _("Form layout saved."))
            url = f"{reverse('customization:layouts')}?object={object_type}"
            return redirect(f"{url}&role={role_id}" if role_id else url)
        sections = [s for s in sections if s["title_zh"] or s["title_en"] or s["fields"]]
    else:
        sections = customization.layout_for(object_type, SimpleNamespace(role_id=role_id))
        specs = _layout_fields(object_type, registry, sections)
    sections = [*sections, *({"title_zh": "", "title_en": "", "fields": []} for _n in range(SPARE_SECTIONS))]
    where = {ref: (n, pos) for n, s in enumerate(sections, start=1) for pos, ref in enumerate(s["fields"], 1)}
    required = set(getattr(customfields.object_spec(object_type), "required_refs", ()))
    rows = [
        {
            "spec": spec,
            "slug": _slug(spec.ref),
            "section": where.get(spec.ref, (None, None))[0],
            "position": where.get(spec.ref, (None, None))[1],
            "required": spec.ref in required,
        }
        for spec in specs
    ]
    rows.sort(key=lambda r: (r["section"] or 10**6, r["position"] or 0))
    role_layouts = set(
        FormLayout.objects.filter(object_type=object_type, role__isnull=False).values_list(
            "role_id", flat=True
        )
    )
    context = {
        "active_tab": "layouts",
        "object_type": object_type,
        "objects": object_choices(),
        "roles": roles,
        "role": role,
        "role_layouts": role_layouts,
        "own_layout": own_layout,
        "sections": sections,
        "section_numbers": range(1, len(sections) + 1),
        "rows": rows,
        "errors": errors,
    }
    return render(request, "customization/layout.html", context)
