"""Public pool pages: the pools a user may claim from, claiming (htmx row swap), the user's customers
about to return to the pool, and releasing a customer. Thin callers of `engagement.pool`."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core.exceptions import require
from guanxi.core.permissions import Perm
from guanxi.engagement import pool as pool_actions
from guanxi.engagement.pool import ClaimRefused, PoolMap, ReleaseRefused

RULE_LABELS = {
    "no_follow_up": gettext_lazy("No follow-up"),
    "no_deal": gettext_lazy("No deal"),
}


def _next_url(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@login_required
def pool_index(request):
    require(request.user, Perm.CUSTOMER_VIEW)
    pools = PoolMap.load()
    mine = pool_actions.claimable_pools(request.user, pools=pools)
    selected = None
    wanted = request.GET.get("pool", "")
    if wanted.isdigit():
        selected = next((p for p in mine if p.pk == int(wanted)), None)
    if selected is None and mine:
        own = pool_actions.pool_for(request.user, pools=pools)
        selected = next((p for p in mine if own and p.pk == own.pk), mine[0])
    q = request.GET.get("q", "")[:100]
    page = None
    if selected is not None:
        qs = pool_actions.pool_customers(request.user, selected, q=q, pools=pools)
        page = Paginator(qs, settings.GUANXI_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "engagement/pool_index.html",
        {"pools": mine, "selected": selected, "page": page, "q": q, "querystring": query.urlencode()},
    )


@login_required
@require_POST
def pool_claim(request, pk: int):
    customer = None
    try:
        customer = pool_actions.claim(pk, actor=request.user)
    except ClaimRefused as exc:
        error = exc.message
    else:
        error = ""
    if request.htmx:
        return render(
            request,
            "engagement/pool_row.html",
            {"c": customer, "pk": pk, "error": error, "claimed": not error},
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("You claimed %(name)s.") % {"name": customer.name})
    return redirect(_next_url(request, "pool:index"))


@login_required
def pool_at_risk(request):
    """The user's own customers that return to the pool soon, with when and why."""
    require(request.user, Perm.CUSTOMER_VIEW)
    pool, rows = pool_actions.customers_at_risk(request.user)
    return render(
        request,
        "engagement/pool_at_risk.html",
        {
            "pool": pool,
            "rows": [{"item": row, "rule": RULE_LABELS.get(row.rule, row.rule)} for row in rows],
        },
    )


@login_required
@require_POST
def pool_release(request, pk: int):
    """Give a customer back to the pool. POST `reason` (optional) and `next` (where to go after)."""
    try:
        customer = pool_actions.release(pk, actor=request.user, reason=request.POST.get("reason", ""))
    except ReleaseRefused as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("%(name)s was released to the public pool %(pool)s.")
            % {"name": customer.name, "pool": customer.pool},
        )
    return redirect(_next_url(request, "pool:at_risk"))
