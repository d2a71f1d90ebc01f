"""The approvals panel on record pages: the pending request with approve / reject for those asked, and
the history of requests and decisions. On the deal page through `core.record_panels`, on the customer
page through `customers.panels`. Registered by ApprovalsConfig.ready()."""

from __future__ import annotations

from typing import Any

from guanxi.approvals import actions
from guanxi.approvals.models import RequestStatus
from guanxi.core import record_panels
from guanxi.customers import panels as customer_panels

TEMPLATE = "approvals/_record_panel.html"


def panel_context(request, obj) -> dict[str, Any] | None:
    object_type = actions.object_type_of(obj)
    if object_type is None:
        return None
    history = actions.requests_for(object_type, obj.pk)
    pending = next((r for r in history if r.status == RequestStatus.PENDING), None)
    return {
        "requests": history,
        "pending": pending,
        "can_decide": pending is not None and actions.can_decide(pending, request.user),
        "can_cancel": pending is not None and pending.submitter_id == request.user.pk,
        "flows": actions.applicable_flows(obj) if pending is None else [],
        "object_type": object_type,
        "object_id": obj.pk,
        "next": request.get_full_path(),
    }


def _customer_card(request, customer) -> dict[str, Any]:
    return {"panel": panel_context(request, customer) or {}}


def register() -> None:
    record_panels.register("deal", "approvals", TEMPLATE, panel_context, order=10)
    customer_panels.register_card("approvals", "approvals/_customer_card.html", _customer_card, order=50)
