"""Customer pages: thin callers of queries (reads) and actions (writes)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Max, Sum
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core import audit
from guanxi.core.exceptions import NotFound, require
from guanxi.core.permissions import Perm
from guanxi.customers import actions, queries
from guanxi.customers.actions import IngestOutcome
from guanxi.customers.forms import CustomerForm, custom_field_sections
from guanxi.customers.identity import DuplicateFound
from guanxi.customers.models import ContactKind, Customer, CustomerKind
from guanxi.engagement.fields import follow_up_type_labels
from guanxi.engagement.forms import FollowUpForm, TaskForm
from guanxi.engagement.models import EnrollmentStatus, TaskStatus

TABS = [
    ("timeline", gettext_lazy("Timeline")),
    ("deals", gettext_lazy("Deals")),
    ("orders", gettext_lazy("Orders")),
    ("history", gettext_lazy("Change history")),
]


def _visible_or_404(request, pk: int) -> Customer:
    require(request.user, Perm.CUSTOMER_VIEW)
    customer = queries.get_visible(request.user, pk)
    if customer is None:
        raise Http404
    return customer


def _can_see(request, customer: Customer) -> bool:
    return Customer.objects.visible_to(request.user).filter(pk=customer.pk).exists()


@login_required
def customer_detail(request, pk: int):
    customer = _visible_or_404(request, pk)
    tab = request.GET.get("tab", "timeline")
    if tab not in dict(TABS):
        tab = "timeline"
    points = [
        {
            "point": p,
            "shown": queries.shown_contact(request.user, customer, p),
            "href": queries.contact_href(request.user, customer, p),
        }
        for p in customer.contact_points.all()
    ]
    context = {
        "customer": customer,
        "contacts": points,
        "tabs": TABS,
        "tab": tab,
        "company_contacts": customer.contacts.visible_to(request.user).alive()[:20]
        if customer.kind == CustomerKind.COMPANY
        else [],
        "can_edit": request.user.has_perm_code(Perm.CUSTOMER_CHANGE),
        "can_delete": request.user.has_perm_code(Perm.CUSTOMER_DELETE),
        "can_assign": request.user.has_perm_code(Perm.CUSTOMER_ASSIGN),
        "follow_up_form": FollowUpForm(),
        "task_form": TaskForm(),
        "open_tasks": customer.tasks.filter(status=TaskStatus.OPEN)
        .select_related("owner")
        .order_by("due_at")[:20],
        "enrollments": customer.cadences.filter(
            status__in=[EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED]
        ).select_related("cadence"),
        "custom_sections": custom_field_sections(customer, request.user),
        **_tab_context(request, customer, tab),
    }
    return render(request, "customers/detail.html", context)


def _tab_context(request, customer: Customer, tab: str) -> dict:
    context: dict = {"tab": tab}
    if tab in ("timeline", "orders"):
        orders = customer.orders.order_by("-ordered_at")
        context["order_stats"] = orders.aggregate(
            count=Count("id"), total=Sum("amount"), last=Max("ordered_at")
        )
        context["orders"] = orders[:50]
    if tab in ("timeline", "history"):
        context["history"] = queries.present_history(audit.history_for(customer)[:50], request.user, customer)
    if tab == "history":
        context["merges"] = queries.merge_history(customer)
        context["can_merge"] = request.user.has_perm_code(Perm.CUSTOMER_MERGE)
    if tab == "deals":
        from guanxi.sales.queries import customer_deals

        context["deals"] = customer_deals(request.user, customer)[:50]
        context["can_add_deal"] = request.user.has_perm_code(Perm.CUSTOMER_CHANGE)
    if tab == "timeline":
        follow_ups = list(customer.follow_ups.select_related("author")[:50])
        kinds = follow_up_type_labels()
        for follow_up in follow_ups:
            zh, en = kinds.get(follow_up.kind, (follow_up.kind, follow_up.kind))
            follow_up.kind_label = en if translation.get_language().startswith("en") and en else zh
        items = [{"at": f.occurred_at, "kind": "follow_up", "obj": f} for f in follow_ups]
        items += [{"at": o.ordered_at, "kind": "order", "obj": o} for o in context["orders"]]
        items += [{"at": e.created_at, "kind": "change", "obj": e} for e in context["history"]]
        context["timeline"] = sorted(items, key=lambda i: i["at"], reverse=True)[:50]
    return context


@login_required
def customer_tab(request, pk: int, tab: str):
    customer = _visible_or_404(request, pk)
    if tab not in dict(TABS):
        raise Http404
    return render(
        request, "customers/_tab.html", {"customer": customer, **_tab_context(request, customer, tab)}
    )


@login_required
@require_http_methods(["GET", "POST"])
def customer_create(request):
    require(request.user, Perm.CUSTOMER_CREATE)
    form = CustomerForm(request.POST or None, user=request.user, initial={"owner": request.user.pk})
    duplicates = None
    if request.method == "POST" and form.is_valid():
        try:
            customer = actions.create_customer(
                form.to_action_data(),
                actor=request.user,
                confirm_duplicate=form.cleaned_data["confirm_duplicate"],
            )
        except ValidationError as exc:
            form.add_action_errors(exc)
        except DuplicateFound as exc:
            duplicates = exc
        else:
            if getattr(customer, "ingest_outcome", IngestOutcome.CREATED) != IngestOutcome.CREATED:
                messages.info(
                    request, _("The data was added to the existing customer with the same identifier.")
                )
            else:
                messages.success(request, _("Customer created."))
            return (
                redirect("customers:detail", pk=customer.pk)
                if _can_see(request, customer)
                else redirect("customers:list")
            )
    return render(request, "customers/form.html", {"form": form, "customer": None, "duplicates": duplicates})


@login_required
@require_http_methods(["GET", "POST"])
def customer_edit(request, pk: int):
    customer = _visible_or_404(request, pk)
    require(request.user, Perm.CUSTOMER_CHANGE)
    initial = {
        **{
            f: getattr(customer, f)
            for f in actions.SNAPSHOT_FIELDS
            if f not in {"company_id", "owner_id", "custom_fields"}
        },
        "company_name": customer.company.name if customer.company_id else "",
        "owner": customer.owner_id,
        "tags": ", ".join(t.name for t in customer.tags.all()),
        # Masked for a user who may edit but not see the number: left as it is, it is not sent.
        "phone": queries.shown_contact(
            request.user, customer, queries.primary_contact(customer, ContactKind.PHONE)
        ),
        "email": getattr(queries.primary_contact(customer, ContactKind.EMAIL), "value", ""),
        "wechat_id": getattr(queries.primary_contact(customer, ContactKind.WECHAT_ID), "value", ""),
    }
    form = CustomerForm(request.POST or None, user=request.user, initial=initial, instance=customer)
    duplicates = None
    if request.method == "POST" and form.is_valid():
        data = {
            k: v
            for k, v in form.to_action_data(changed_only=True).items()
            if k in form.changed_data or k in ("owner_id", "custom_fields")
        }
        if "owner" not in form.changed_data:
            data.pop("owner_id", None)
        try:
            actions.update_customer(
                customer.pk,
                data,
                actor=request.user,
                confirm_duplicate=form.cleaned_data["confirm_duplicate"],
            )
        except ValidationError as exc:
            form.add_action_errors(exc)
        except DuplicateFound as exc:
            duplicates = exc
        except NotFound:
            raise Http404
        else:
            messages.success(request, _("Customer saved."))
            return redirect("customers:detail", pk=customer.pk)
    return render(
        request, "customers/form.html", {"form": form, "customer": customer, "duplicates": duplicates}
    )


@login_required
@require_POST
def customer_delete(request, pk: int):
    try:
        actions.delete_customer(pk, actor=request.user)
    except NotFound:
        raise Http404
    messages.success(request, _("Customer moved to the recycle bin."))
    return redirect("customers:list")


@login_required
def recycle_bin(request):
    """Deleted customers the user may see, newest deletion first; restorable by those who may delete."""
    require(request.user, Perm.CUSTOMER_DELETE)
    qs = (
        Customer.objects.visible_to(request.user)
        .deleted()
        .select_related("owner", "deleted_by")
        .order_by("-deleted_at")
    )
    page = Paginator(qs, settings.GUANXI_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "customers/recycle_bin.html", {"page": page})


@login_required
@require_POST
def customer_restore(request, pk: int):
    try:
        actions.restore_customer(pk, actor=request.user)
    except NotFound:
        raise Http404
    messages.success(request, _("Customer restored."))
    return redirect("customers:detail", pk=pk)
