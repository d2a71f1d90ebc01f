"""What sales shows on the customer page (customers.panels): the deals and orders tabs, and orders on
the timeline. Registered by SalesConfig.ready()."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Max, Sum
from django.utils.translation import gettext_lazy as _

from guanxi.core.permissions import Perm
from guanxi.customers import panels
from guanxi.sales.queries import customer_deals


def _deals_tab(request, customer) -> dict[str, Any]:
    return {
        "deals": customer_deals(request.user, customer)[:50],
        "can_add_deal": request.user.has_perm_code(Perm.CUSTOMER_CHANGE),
    }


def _orders_tab(request, customer) -> dict[str, Any]:
    orders = customer.orders.order_by("-ordered_at")
    return {
        "order_stats": orders.aggregate(count=Count("id"), total=Sum("amount"), last=Max("ordered_at")),
        "orders": orders[:50],
    }


def _order_entries(request, customer, limit: int) -> list[tuple[dt.datetime, Any]]:
    return [(o.ordered_at, o) for o in customer.orders.order_by("-ordered_at")[:limit]]


def register() -> None:
    panels.register_tab("deals", _("Deals"), "sales/_customer_deals_tab.html", _deals_tab, order=20)
    panels.register_tab("orders", _("Orders"), "sales/_customer_orders_tab.html", _orders_tab, order=30)
    panels.register_timeline_source("order", "sales/_timeline_order.html", _order_entries, order=20)
