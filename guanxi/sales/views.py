"""Deal pages (board, list, detail, create/edit/move) and the pipeline settings pages.

Thin callers of `guanxi.sales.queries` (reads, scoped to the user) and `guanxi.sales.actions` (writes).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from guanxi.core import audit, locks, record_panels
from guanxi.core.converters import as_id, as_int
from guanxi.core.exceptions import require
from guanxi.core.http import safe_next
from guanxi.core.permissions import Perm
from guanxi.core.scopes import assignable_users
from guanxi.customers import queries as customer_queries
from guanxi.customers.models import Customer
from guanxi.customization import registry as customfields
from guanxi.customization.models import CustomObject
from guanxi.customization.registry import Op
from guanxi.sales import actions, forms, queries
from guanxi.sales.models import Deal, Pipeline, PipelineObject, Stage, StageOutcome

LAYOUTS = ("board", "list")
LIST_SORTS = ("name", "amount", "expected_close_date", "updated_at", "created_at", "stage", "owner")


def _deal_or_404(request, pk: int) -> Deal:
    require(request.user, Perm.CUSTOMER_VIEW)
    deal = queries.get_visible(request.user, pk)
    if deal is None:
        raise Http404
    return deal


def _safe_next(request, fallback: str) -> str:
    return safe_next(request, fallback)


# --------------------------------------------------------------------------- board and list


def _board_context(request, params: QueryDict) -> dict:
    user = request.user
    pipelines = queries.deal_pipelines()
    pipeline = None
    wanted = as_id(params.get("pipeline"))
    if wanted is not None:
        pipeline = next((p for p in pipelines if p.pk == wanted), None)
    if pipeline is None:
        default = actions.default_pipeline()
        pipeline = next((p for p in pipelines if default and p.pk == default.pk), None)
    layout = params.get("layout") if params.get("layout") in LAYOUTS else "board"
    mine = params.get("mine") == "1"
    owner_id = user.pk if mine else as_id(params.get("owner"))
    condition = {
        "field": (params.get("field") or "")[:80],
        "op": (params.get("op") or "")[:30],
        "value": (params.get("value") or "")[:200],
    }
    conditions = [condition] if condition["field"] else []
    registry = customfields.Registry(CustomObject.DEAL)
    filters = queries.DealFilters(
        q=(params.get("q") or "")[:100],
        owner_id=owner_id,
        customer_id=as_id(params.get("customer")),
        conditions=conditions,
    )
    filter_errors: list[str] = []
    if conditions:
        try:
            registry.clean_filters(conditions, user=user)
        except ValidationError as exc:
            filter_errors = exc.messages
            filters = queries.DealFilters(q=filters.q, owner_id=owner_id, customer_id=filters.customer_id)
        except OverflowError:
            filter_errors = [_("A date is out of range.")]
            filters = queries.DealFilters(q=filters.q, owner_id=owner_id, customer_id=filters.customer_id)
    query = params.copy()
    for key in ("page", "csrfmiddlewaretoken", "stage_id", "board", "lost_reason"):
        query.pop(key, None)
    context = {
        "pipelines": pipelines,
        "pipeline": pipeline,
        "layout": layout,
        "mine": mine,
        "owner_id": owner_id,
        "q": filters.q,
        "condition": condition,
        "filter_errors": filter_errors,
        "filter_fields": customfields.field_choices_for_filters(registry),
        "ops": Op.choices,
        "owners": assignable_users(user).order_by("display_name", "username"),
        "board_query": query.urlencode(),
        "querystring_without_layout": _without(query, "layout"),
        "querystring_without_sort": _without(query, "sort"),
        "can_edit": user.has_perm_code(Perm.CUSTOMER_CHANGE),
        "can_manage": user.has_perm_code(Perm.SETTINGS_MANAGE),
        "columns": [],
        "stages": [],
        "page": None,
    }
    if pipeline is None:
        return context
    context["stages"] = queries.active_stages(pipeline)
    if layout == "board":
        context["columns"] = queries.board(user, pipeline, filters)
    else:
        qs = queries.with_list_relations(queries.deal_list(user, filters, registry).filter(pipeline=pipeline))
        sort = params.get("sort") or "-updated_at"
        ordering = registry.ordering(sort, user=user) if sort.lstrip("-") in LIST_SORTS else None
        if sort.lstrip("-") == "stage":  # the stages' order, not their ids
            ordering = [f"{sort[:-5]}stage__position", f"{sort[:-5]}id"]
        qs = qs.order_by(*(ordering or ["-updated_at", "-id"]))
        context["sort"] = sort if ordering else "-updated_at"
        context["page"] = Paginator(qs, settings.GUANXI_PAGE_SIZE).get_page(params.get("page"))
    return context


def _without(query: QueryDict, key: str) -> str:
    copy = query.copy()
    copy.pop(key, None)
    return copy.urlencode()


@login_required
def board(request):
    require(request.user, Perm.CUSTOMER_VIEW)
    context = _board_context(request, request.GET)
    if request.htmx and request.htmx.target == "deal-board":
        return render(request, "sales/_board.html", context)
    return render(request, "sales/board.html", context)


# --------------------------------------------------------------------------- moving a deal


def _stage_of(deal: Deal, stage_id) -> Stage | None:
    pk = as_id(stage_id)
    if pk is None:
        return None
    return Stage.objects.filter(pk=pk, pipeline_id=deal.pipeline_id, is_active=True).first()


def _card_with_error(request, deal: Deal, stage: Stage | None, errors: list[str]):
    """The card again, with the reason the move was refused (htmx swaps it in place of the card)."""
    context = {
        "d": deal,
        "stages": queries.active_stages(deal.pipeline),
        "board_query": request.POST.get("board", ""),
        "move_errors": errors,
        "move_stage": stage,
        "can_edit": True,
    }
    response = render(request, "sales/_deal_card.html", context)
    response["HX-Retarget"] = f"#deal-{deal.pk}"
    response["HX-Reswap"] = "outerHTML"
    return response


def _move_page(request, deal: Deal, stage: Stage, form: forms.DealForm, errors: list[str], status: int = 200):
    return render(
        request,
        "sales/deal_move.html",
        {"deal": deal, "stage": stage, "form": form, "errors": errors, "next": _safe_next(request, "")},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def deal_move(request, pk: int):
    """Move a deal to a stage. From a card or the detail page (stage and lost reason only); when the
    stage asks for fields the deal lacks, the page with those fields (`?stage=`) finishes the move."""
    deal = _deal_or_404(request, pk)
    require(request.user, Perm.CUSTOMER_CHANGE)
    stage = _stage_of(deal, request.POST.get("stage_id") or request.GET.get("stage"))
    if stage is None:
        if request.htmx:
            return _card_with_error(request, deal, None, [_("Choose a stage of this pipeline.")])
        raise Http404
    full_form = request.method == "POST" and request.POST.get("full") == "1"
    form = forms.DealForm(
        request.POST if full_form else None, user=request.user, instance=deal, layout=forms.move_layout(stage)
    )
    for field in form.fields.values():
        field.marked_required = True  # the stage asks for every field shown
    if request.method == "GET":
        return _move_page(request, deal, stage, form, [])
    if full_form:
        if not form.is_valid():
            return _move_page(request, deal, stage, form, [], status=422)
        data = form.to_action_data(changed_only=True)
    else:
        data = {"lost_reason": request.POST.get("lost_reason", "")} if request.POST.get("lost_reason") else {}
    data["stage_id"] = stage.pk
    try:
        actions.update_deal(deal.pk, data, actor=request.user)
    except locks.TransitionHeld as exc:
        messages.info(request, exc.message)
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = reverse("deals:detail", args=[deal.pk])
            return response
        return redirect(reverse("deals:detail", args=[deal.pk]))
    except ValidationError as exc:
        if not full_form:
            if request.htmx:
                return _card_with_error(request, deal, stage, exc.messages)
            return _move_page(request, deal, stage, form, exc.messages, status=422)
        form.add_action_errors(exc)
        return _move_page(request, deal, stage, form, [], status=422)
    if request.htmx:
        params = QueryDict(request.POST.get("board", ""), mutable=True)
        return render(request, "sales/_board.html", _board_context(request, params))
    messages.success(
        request, _("Deal moved to %(stage)s.") % {"stage": forms._localized(stage.name_zh, stage.name_en)}
    )
    return redirect(_safe_next(request, reverse("deals:detail", args=[deal.pk])))


# --------------------------------------------------------------------------- create, edit, detail


def _choose_customer(request):
    q = (request.GET.get("q") or "")[:100]
    results = []
    if q:
        filters = customer_queries.CustomerFilters(q=q)
        results = list(customer_queries.customer_list(request.user, filters).select_related("owner")[:20])
    return render(
        request,
        "sales/choose_customer.html",
        {"q": q, "results": results, "pipeline": as_id(request.GET.get("pipeline"))},
    )


@login_required
@require_http_methods(["GET", "POST"])
def deal_create(request):
    require(request.user, Perm.CUSTOMER_CHANGE)
    customer_id = as_id(request.POST.get("customer") or request.GET.get("customer"))
    customer = (
        Customer.objects.visible_to(request.user).alive().filter(pk=customer_id).first()
        if customer_id is not None
        else None
    )
    if customer is None:
        if customer_id is not None:
            raise Http404
        return _choose_customer(request)
    initial = {"owner": str(request.user.pk)}
    pipeline = queries.deal_pipelines()
    wanted = as_id(request.GET.get("pipeline"))
    chosen = next((p for p in pipeline if p.pk == wanted), None) or actions.default_pipeline()
    if chosen is not None:
        initial["pipeline"] = str(chosen.pk)
        first_open = next((s for s in queries.active_stages(chosen) if s.outcome == StageOutcome.OPEN), None)
        if first_open is not None:
            initial["stage"] = str(first_open.pk)
    form = forms.DealForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            deal = actions.create_deal(customer.pk, form.to_action_data(), actor=request.user)
        except ValidationError as exc:
            form.add_action_errors(exc)
        else:
            messages.success(request, _("Deal created."))
            return redirect("deals:detail", pk=deal.pk)
    return render(request, "sales/deal_form.html", {"form": form, "deal": None, "customer": customer})


@login_required
@require_http_methods(["GET", "POST"])
def deal_edit(request, pk: int):
    deal = _deal_or_404(request, pk)
    require(request.user, Perm.CUSTOMER_CHANGE)
    form = forms.DealForm(request.POST or None, user=request.user, instance=deal)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_deal(deal.pk, form.to_action_data(changed_only=True), actor=request.user)
        except locks.TransitionHeld as exc:
            messages.info(request, exc.message)
            return redirect("deals:detail", pk=deal.pk)
        except ValidationError as exc:
            form.add_action_errors(exc)
        else:
            messages.success(request, _("Deal saved."))
            return redirect("deals:detail", pk=deal.pk)
    return render(request, "sales/deal_form.html", {"form": form, "deal": deal, "customer": deal.customer})


@login_required
def deal_detail(request, pk: int):
    deal = _deal_or_404(request, pk)
    registry = customfields.Registry(CustomObject.DEAL)
    reasons = {key: forms._localized(zh, en) for key, zh, en in actions.lost_reasons()}
    context = {
        "deal": deal,
        "stages": queries.active_stages(deal.pipeline),
        "lost_reasons": forms.lost_reason_choices()[1:],
        "lost_reason_label": reasons.get(deal.lost_reason, deal.lost_reason),
        "custom_sections": forms.custom_value_sections(deal, request.user, registry),
        "history": forms.history_rows(audit.history_for(deal)[:50], registry, user=request.user, deal=deal),
        "can_edit": request.user.has_perm_code(Perm.CUSTOMER_CHANGE),
        "record_panels": record_panels.shown(request, CustomObject.DEAL, deal),
    }
    return render(request, "sales/deal_detail.html", context)


# --------------------------------------------------------------------------- pipeline settings


@login_required
def pipeline_list(request):
    require(request.user, Perm.SETTINGS_MANAGE)
    pipelines = (
        Pipeline.objects.filter(object_type=PipelineObject.DEAL)
        .annotate(
            stage_count=Count("stages", filter=Q(stages__is_active=True), distinct=True),
            open_deals=Count("deals", filter=Q(deals__closed_at__isnull=True), distinct=True),
        )
        .order_by("-is_active", "position", "id")
    )
    return render(request, "sales/pipeline_list.html", {"pipelines": pipelines})


def _rows_from(formset) -> list[dict]:
    rows = []
    for form in formset.forms:
        row = form.as_row()
        row["id"] = row["id"] or ""
        row["DELETE"] = bool(form.cleaned_data.get("DELETE"))
        rows.append(row)
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def pipeline_edit(request, pk: int | None = None):
    """Edit a pipeline and its stages in one form: rows can be added, moved up/down and removed;
    only "Save" writes (through `actions.save_pipeline`)."""
    require(request.user, Perm.SETTINGS_MANAGE)
    pipeline = None
    if pk is not None:
        pipeline = Pipeline.objects.filter(pk=pk, object_type=PipelineObject.DEAL).first()
        if pipeline is None:
            raise Http404
    stage_errors: list[str] = []
    if request.method == "GET":
        if pipeline is not None:
            form = forms.PipelineForm(
                initial={
                    "name_zh": pipeline.name_zh,
                    "name_en": pipeline.name_en,
                    "is_default": pipeline.is_default,
                }
            )
            rows = [forms.stage_initial(s) for s in queries.active_stages(pipeline)]
        else:
            form = forms.PipelineForm()
            rows = [forms.blank_stage()]
        formset = forms.stage_formset(initial=rows)
        return _pipeline_page(request, pipeline, form, formset, stage_errors)

    form = forms.PipelineForm(request.POST)
    formset = forms.stage_formset(request.POST)
    if not (form.is_valid() and formset.is_valid()):
        stage_errors = [str(e) for e in formset.non_form_errors()]
        return _pipeline_page(request, pipeline, form, formset, stage_errors, status=422)
    rows = _rows_from(formset)
    rearranged = None
    if "add_row" in request.POST:
        rearranged = [*rows, forms.blank_stage()]
    for direction, step in (("up", -1), ("down", 1)):
        i = as_int(request.POST.get(direction), minimum=0, maximum=9999)
        if i is not None:
            j = i + step
            if i < len(rows) and 0 <= j < len(rows):
                rows[i], rows[j] = rows[j], rows[i]
            rearranged = rows
    if rearranged is not None:
        unbound = forms.PipelineForm(initial=form.cleaned_data)
        return _pipeline_page(
            request, pipeline, unbound, forms.stage_formset(initial=rearranged), stage_errors
        )
    stages = [
        {k: v for k, v in row.items() if k != "DELETE"}
        for row, row_form in zip(rows, formset.forms, strict=True)
        if not row["DELETE"] and not row_form.is_blank()
    ]
    data = {
        "object_type": PipelineObject.DEAL,
        "name_zh": form.cleaned_data["name_zh"],
        "name_en": form.cleaned_data["name_en"],
        "is_default": form.cleaned_data["is_default"],
        "stages": stages,
    }
    try:
        saved = actions.save_pipeline(data, actor=request.user, pipeline_id=pipeline.pk if pipeline else None)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            if field in form.fields:
                for error in errors:
                    form.add_error(field, error)
            else:
                stage_errors.extend(errors)
        return _pipeline_page(request, pipeline, form, formset, stage_errors, status=422)
    messages.success(request, _("Pipeline %(name)s saved.") % {"name": saved.name_zh})
    return redirect("pipelines:list")


def _pipeline_page(request, pipeline, form, formset, stage_errors, status: int = 200):
    return render(
        request,
        "sales/pipeline_form.html",
        {"pipeline": pipeline, "form": form, "formset": formset, "stage_errors": stage_errors},
        status=status,
    )
