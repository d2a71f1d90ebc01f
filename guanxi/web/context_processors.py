from django.urls import reverse
from django.utils.translation import gettext_lazy as _

NAV = [
    ("today", _("Today")),
    ("customers:list", _("Customers")),
    ("deals:board", _("Deals")),
    ("pool:index", _("Public pool")),
    ("approvals:waiting", _("Approvals")),
    ("quality:overview", _("Data quality")),
]
# Shown only to those who may open them.
ADMIN_NAV = [
    ("automation:rules", _("Automation")),
    ("approvals:flows", _("Approval flows")),
    ("inbound:sources", _("Inbound webhooks")),
    ("webhooks:endpoints", _("Outgoing webhooks")),
    ("messaging:deliveries", _("Delivery log")),
]


def navigation(request):
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    current = request.resolver_match.view_name if request.resolver_match else ""
    items = [
        {"url": reverse(name), "label": label, "active": current.split(":")[0] == name.split(":")[0]}
        for name, label in NAV
    ]
    if request.user.has_perm_code("customer.assign"):
        items.append(
            {
                "url": reverse("assignment:rules"),
                "label": _("Lead assignment"),
                "active": current.startswith("assignment:"),
            }
        )
    if request.user.is_superuser or request.user.has_perm_code("settings.manage"):
        items += [
            {"url": reverse(name), "label": label, "active": current.split(":")[0] == name.split(":")[0]}
            for name, label in ADMIN_NAV
        ]
    return {"nav_items": items, "can_customize": request.user.has_perm_code("settings.manage")}
