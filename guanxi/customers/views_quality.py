"""Data-quality pages: thin callers of quality queries and the merge actions."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.converters import as_id
from guanxi.core.exceptions import require
from guanxi.core.http import safe_next
from guanxi.core.permissions import Perm
from guanxi.customers import actions, merging, quality, queries
from guanxi.customers.models import Customer, DuplicateCandidate, QualityReport, ReviewStatus


@login_required
def overview(request):
    require(request.user, Perm.CUSTOMER_VIEW)
    worst = queries.with_list_relations(
        Customer.objects.visible_to(request.user).alive().order_by("completeness", "id")
    )
    page = Paginator(worst, settings.GUANXI_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "owners": quality.owner_summary(request.user),
        "page": page,
        "report": QualityReport.objects.first(),
        "open_duplicates": DuplicateCandidate.objects.filter(status=ReviewStatus.OPEN).count()
        if request.user.has_perm_code(Perm.CUSTOMER_MERGE)
        else None,
    }
    return render(request, "customers/quality_overview.html", context)


@login_required
def review_queue(request):
    require(request.user, Perm.CUSTOMER_MERGE)
    status = request.GET.get("status", ReviewStatus.OPEN)
    if status not in ReviewStatus.values:
        status = ReviewStatus.OPEN
    visible = Customer.objects.visible_to(request.user).alive()
    qs = (
        DuplicateCandidate.objects.filter(status=status, customer_a__in=visible, customer_b__in=visible)
        .select_related("customer_a__owner", "customer_b__owner")
        .order_by("-score", "cluster_key", "id")
    )
    page = Paginator(qs, settings.GUANXI_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "customers/quality_duplicates.html",
        {"page": page, "status": status, "statuses": ReviewStatus.choices},
    )


@login_required
@require_POST
def decide(request, pk: int):
    try:
        actions.decide_duplicate(pk, request.POST.get("decision", ""), actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(safe_next(request) or "quality:duplicates")


def _pair(request, a: int, b: int) -> tuple[Customer, Customer]:
    customers = {c.pk: c for c in Customer.objects.visible_to(request.user).alive().filter(pk__in=[a, b])}
    if len(customers) != 2:
        raise Http404
    return customers[a], customers[b]


@login_required
@require_http_methods(["GET", "POST"])
def merge(request, a: int, b: int):
    """Side by side: pick the surviving record and, per field, whose value to keep."""
    require(request.user, Perm.CUSTOMER_MERGE)
    first, second = _pair(request, a, b)
    survivor_id = as_id(request.POST.get("survivor") or request.GET.get("survivor")) or first.pk
    survivor, merged = (first, second) if survivor_id == first.pk else (second, first)
    if request.method == "POST":
        choices = {
            f: request.POST[f"field_{f}"]
            for f in merging.MERGEABLE_FIELDS
            if request.POST.get(f"field_{f}") in ("survivor", "merged")
        }
        try:
            record = actions.merge_customers(
                survivor.pk, merged.pk, actor=request.user, field_choices=choices
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Customers merged. You can undo this from the customer's history."))
            return redirect("customers:detail", pk=record.survivor_id)
    defaults = merging.choose_fields(survivor, merged, None)
    rows = [
        {
            "field": f,
            "label": Customer._meta.get_field(f.removesuffix("_id")).verbose_name,
            "survivor": getattr(survivor, f.removesuffix("_id"))
            if f.endswith("_id")
            else getattr(survivor, f),
            "merged": getattr(merged, f.removesuffix("_id")) if f.endswith("_id") else getattr(merged, f),
            "choice": defaults[f],
        }
        for f in merging.MERGEABLE_FIELDS
    ]
    contacts = {
        c.pk: [queries.shown_contact(request.user, c, p) for p in c.contact_points.all()]
        for c in (survivor, merged)
    }
    return render(
        request,
        "customers/quality_merge.html",
        {"survivor": survivor, "merged": merged, "rows": rows, "contacts": contacts, "a": a, "b": b},
    )


@login_required
@require_POST
def undo_merge(request, pk: int):
    try:
        record = actions.unmerge(pk, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("quality:duplicates")
    messages.success(request, _("Merge undone: both customers are back as they were."))
    return redirect("customers:detail", pk=record.survivor_id)
