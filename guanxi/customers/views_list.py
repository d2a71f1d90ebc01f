"""The customer list as a configurable view: quick filters and search, a filter builder, columns,
sort, saved views, a kanban by any single-select field, bulk tagging and export.

Thin callers: the state of a list request is read by `queries.list_state`, the rows by
`queries.view_queryset`, files are written by `exporting`, and every write goes through an action
(`customization.actions.save_view` / `delete_view`, `customers.actions.bulk_tag` / `update_customer`).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.core.converters import as_id
from guanxi.core.exceptions import require
from guanxi.core.http import safe_next
from guanxi.core.models import User
from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users
from guanxi.customers import actions, exporting, panels, queries
from guanxi.customers.models import Channel, CustomerKind, LifecycleStage, Tier
from guanxi.customization import actions as customization
from guanxi.customization import filter_builder
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject, ViewVisibility

OBJECT = CustomObject.CUSTOMER
STATE_PARAMS = ("page",)  # dropped from the query string kept in links


def _registry() -> customfields.Registry:
    return customfields.Registry(OBJECT)


def _state(request, params=None):
    registry = _registry()
    views = list(customization.views_for(request.user, OBJECT))
    return (
        registry,
        views,
        queries.list_state(params or request.GET, registry, user=request.user, views=views),
    )


def _querystring(params, *drop: str) -> str:
    query = params.copy()
    for name in (*STATE_PARAMS, *drop):
        query.pop(name, None)
    return query.urlencode()


def _sort_links(request, specs, state) -> list[dict]:
    """Header cells: label, and for sortable columns the link that sorts by them (toggling)."""
    headers = []
    for spec in specs:
        header = {"spec": spec, "label": spec.label, "url": "", "direction": ""}
        if spec.sortable:
            if state.sort == spec.ref:
                header["direction"], target = "asc", f"-{spec.ref}"
            elif state.sort == f"-{spec.ref}":
                header["direction"], target = "desc", spec.ref
            else:
                target = spec.ref
            query = request.GET.copy()
            query.pop("page", None)
            query["sort"] = target
            header["url"] = f"?{query.urlencode()}"
        headers.append(header)
    return headers


def _builder_rows(state, registry) -> list[dict]:
    """The filter builder's rows as typed (a dropped condition stays visible with its error)."""
    return [filter_builder.row_for(registry, condition) for condition in state.raw_conditions]


def _rows(request, customers, specs, registry) -> list[dict]:
    names = registry.names_for(customers, specs, user=request.user)
    return [
        {
            "customer": c,
            "cells": [
                {
                    "ref": spec.ref,
                    "label": spec.label,
                    "text": queries.cell_text(request.user, c, spec, names),
                    "href": queries.cell_href(request.user, c, spec),
                }
                for spec in specs
            ],
        }
        for c in customers
    ]


@login_required
def customer_list(request, layout: str | None = None):
    require(request.user, Perm.CUSTOMER_VIEW)
    params = request.GET
    if layout and "layout" not in params:
        params = params.copy()
        params["layout"] = layout
    registry, views, state = _state(request, params)
    user = request.user
    specs = queries.column_specs(state, registry)
    qs = queries.view_queryset(user, state, registry)
    can_assign = user.has_perm_code(Perm.CUSTOMER_ASSIGN)
    context = {
        "state": state,
        "filters": state.filters,
        "specs": specs,
        "registry_fields": _column_choices(state, registry),
        "filter_fields": customfields.field_choices_for_filters(registry),
        "builder_rows": _builder_rows(state, registry),
        "kanban_fields": [s for s in registry.fields() if queries.kanban_spec(registry, s.ref) is not None],
        "views": views,
        "querystring": _querystring(params),
        "layout_querystring": _querystring(params, "layout", "kanban_field"),
        "kinds": CustomerKind.choices,
        "stages": LifecycleStage.choices,
        "tiers": [t for t in Tier.choices if t[0]],
        "sources": Channel.choices,
        "owners": User.objects.filter(is_active=True, owned_customers__isnull=False).distinct()
        if user.data_scope != "own"
        else [],
        "visibilities": ViewVisibility.choices,
        "can_share_everyone": user.has_perm_code(Perm.SETTINGS_MANAGE),
        "can_create": user.has_perm_code(Perm.CUSTOMER_CREATE),
        "can_delete": user.has_perm_code(Perm.CUSTOMER_DELETE),
        "can_assign": can_assign,
        "can_tag": user.has_perm_code(Perm.CUSTOMER_CHANGE),
        "can_import": user.has_perm_code(Perm.CUSTOMER_IMPORT),
        "can_export": user.has_perm_code(Perm.CUSTOMER_EXPORT),
        "can_edit_view": state.view is not None
        and (state.view.owner_id == user.pk or user.has_perm_code(Perm.SETTINGS_MANAGE)),
        "assignable": assignable_users(user).order_by("username") if can_assign else [],
        # Other apps' actions on the selected customers (automation: run a rule), see customers.panels.
        "bulk_cards": panels.shown_cards(request, None, [panels.Slot.LIST_BULK])[panels.Slot.LIST_BULK],
    }
    context["can_bulk"] = bool(can_assign or context["can_tag"] or context["bulk_cards"])
    if state.layout == "kanban":
        context["board"] = queries.kanban_board(user, state, registry, qs)
        context["can_move"] = context["can_tag"]
        context["per_column"] = queries.KANBAN_CARDS
    else:
        paginator = Paginator(qs, settings.GUANXI_PAGE_SIZE)
        page = paginator.get_page(params.get("page"))
        context["page"] = page
        context["rows"] = _rows(request, list(page.object_list), specs, registry)
        context["headers"] = _sort_links(request, specs, state)
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.target == "results":
        return render(request, "customers/_list_results.html", {**context, "oob": True})
    return render(request, "customers/list.html", context)


def _column_choices(state, registry) -> list[dict]:
    """Column chooser: the chosen columns first (in their order), then every other field."""
    chosen = [registry.get(ref) for ref in state.columns]
    rest = [spec for spec in registry.fields() if spec.ref not in state.columns]
    return [{"spec": spec, "checked": spec.ref in state.columns} for spec in [*chosen, *rest] if spec]


@login_required
def filter_row(request):
    """One filter-builder row for a field and operator (htmx swaps it in when either changes)."""
    require(request.user, Perm.CUSTOMER_VIEW)
    return filter_builder.row_response(request, _registry(), row_url=reverse("customers:filter_row"))


def _back(request, default_query: str = ""):
    target = safe_next(request)
    if target:
        return redirect(target)
    url = reverse("customers:list")
    return redirect(f"{url}?{default_query}" if default_query else url)


@login_required
@require_POST
def save_view(request):
    """Save the list as it is on screen (the posted `query`) as a named view, or update the one in use."""
    require(request.user, Perm.CUSTOMER_VIEW)
    params = QueryDict(request.POST.get("query", "")[:8000])
    registry, views, state = _state(request, params)
    view_id = as_id(request.POST.get("view_id")) if request.POST.get("update") else None
    data = {
        "name": request.POST.get("name", ""),
        "visibility": request.POST.get("visibility") or ViewVisibility.PRIVATE,
        "columns": state.columns,
        "filters": state.conditions + queries.quick_conditions(state.filters),
        "sort": state.sort,
        "kanban_field": state.kanban_field if state.layout == "kanban" else "",
    }
    if view_id is not None and not request.POST.get("name"):
        data.pop("name")
    try:
        view = customization.save_view(OBJECT, data, actor=request.user, view_id=view_id)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(f"{reverse('customers:list')}?{params.urlencode()}")
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return redirect(f"{reverse('customers:list')}?view={view.pk}")


@login_required
@require_POST
def delete_view(request, pk: int):
    customization.delete_view(pk, actor=request.user)
    messages.success(request, _("View deleted."))
    return redirect("customers:list")


@login_required
@require_POST
def bulk_tag(request):
    """Add or remove tags on the customers ticked in the list (POST `customer_ids`, `tags`, `mode`)."""
    remove = request.POST.get("mode") == "remove"
    try:
        changed = actions.bulk_tag(
            request.POST.getlist("customer_ids"),
            request.POST.get("tags", ""),
            actor=request.user,
            remove=remove,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if changed:
            messages.success(request, _("Tags updated on %(count)d customer(s).") % {"count": changed})
        else:
            messages.info(request, _("Nothing to change: the selected customers already had these tags."))
    return _back(request)


@login_required
@require_POST
def kanban_move(request):
    """Move a kanban card to another column: the customer's field is changed by `update_customer`."""
    require(request.user, Perm.CUSTOMER_CHANGE)
    registry = _registry()
    spec = queries.kanban_spec(registry, request.POST.get("kanban_field", ""))
    customer_id = as_id(request.POST.get("customer_id"))
    if spec is None or customer_id is None:
        raise Http404
    value = request.POST.get("value", "")
    value = "" if value == queries.EMPTY_GROUP else value
    data = {"custom_fields": {spec.key: value}} if spec.is_custom else {spec.ref: value}
    try:
        actions.update_customer(customer_id, data, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return _back(request)


def _export(request, fmt: str):
    require(request.user, Perm.CUSTOMER_VIEW)
    registry, _views, state = _state(request)
    exporting.start_export(request.user, state, fmt=fmt)
    name = exporting.file_name(fmt)
    if fmt == "xlsx":
        handle = exporting.xlsx_file(request.user, state, registry)
        return FileResponse(
            handle,
            as_attachment=True,
            filename=name,
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    language = translation.get_language()
    user = request.user

    def stream():
        # The body is produced after the view returns: keep the request's language for labels.
        with translation.override(language):
            yield from exporting.csv_chunks(user, state, registry)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def export_csv(request):
    return _export(request, "csv")


@login_required
def export_xlsx(request):
    return _export(request, "xlsx")
