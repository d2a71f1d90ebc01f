"""Customer pages: thin callers of queries (reads) and actions (writes)."""

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

from guanxi.core.exceptions import require
from guanxi.core.permissions import Perm
from guanxi.customers import actions, panels, queries
from guanxi.customers.actions import IngestOutcome
from guanxi.customers.forms import CustomerForm, custom_field_sections
from guanxi.customers.identity import DuplicateFound
from guanxi.customers.models import ContactKind, Customer, CustomerKind


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
    tabs = panels.shown_tabs(request.user)
    keys = [t.key for t in tabs]
    tab = request.GET.get("tab", "")
    if tab not in keys:
        tab = keys[0] if keys else ""  # no tab asked for, or an old link to a tab that is gone
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
        "tabs": tabs,
        "tab": tab,
        "active_tab": panels.tab_for(request, customer, tab) if tab else None,
        "cards": panels.shown_cards(request, customer),
        "company_contacts": customer.contacts.visible_to(request.user).alive()[:20]
        if customer.kind == CustomerKind.COMPANY
        else [],
        "can_edit": request.user.has_perm_code(Perm.CUSTOMER_CHANGE),
        "can_delete": request.user.has_perm_code(Perm.CUSTOMER_DELETE),
        "custom_sections": custom_field_sections(customer, request.user),
    }
    return render(request, "customers/detail.html", context)


@login_required
def customer_tab(request, pk: int, tab: str):
    customer = _visible_or_404(request, pk)
    active_tab = panels.tab_for(request, customer, tab)
    if active_tab is None:
        raise Http404
    return render(
        request, "customers/_tab.html", {"customer": customer, "tab": tab, "active_tab": active_tab}
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
        else:
            messages.success(request, _("Customer saved."))
            return redirect("customers:detail", pk=customer.pk)
    return render(
        request, "customers/form.html", {"form": form, "customer": customer, "duplicates": duplicates}
    )


@login_required
@require_POST
def customer_delete(request, pk: int):
    actions.delete_customer(pk, actor=request.user)
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
    actions.restore_customer(pk, actor=request.user)
    messages.success(request, _("Customer restored."))
    return redirect("customers:detail", pk=pk)
