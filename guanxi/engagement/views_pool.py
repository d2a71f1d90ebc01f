"""Public pool pages: the pools a user may claim from, claiming (htmx row swap), the user's customers
about to return to the pool, and releasing a customer. Thin callers of `engagement.actions.pool`."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from guanxi.core.converters import as_id
from guanxi.core.exceptions import require
from guanxi.core.http import safe_next
from guanxi.core.permissions import Perm
from guanxi.engagement.actions import pool as pool_actions
from guanxi.engagement.actions import reclaim
from guanxi.engagement.actions.pool import ClaimRefused, PoolMap, ReleaseRefused

RULE_LABELS = {
    "no_follow_up": gettext_lazy("No follow-up"),
    "no_deal": gettext_lazy("No deal"),
}


def _next_url(request, fallback: str) -> str:
    return safe_next(request, fallback)


@login_required
def pool_index(request):
    require(request.user, Perm.CUSTOMER_VIEW)
    pools = PoolMap.load()
    mine = pool_actions.claimable_pools(request.user, pools=pools)
    selected = None
    wanted = as_id(request.GET.get("pool"))
    if wanted is not None:
        selected = next((p for p in mine if p.pk == wanted), None)
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
    pool, rows = reclaim.customers_at_risk(request.user)
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
