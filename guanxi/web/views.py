"""The web shell: home, today, tokens, error pages. Domain pages live in each app's views.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from guanxi.core.actions import create_api_token
from guanxi.core.middleware import too_large_response
from guanxi.core.models import AuditEntry
from guanxi.customers.models import Customer
from guanxi.engagement import queries as engagement_queries


def home(request):
    return redirect("today" if request.user.is_authenticated else "login")


@login_required
def today(request):
    """Each user's working list: overdue and due tasks, new leads, at-risk customers, response times;
    managers also see their team's overdue tasks."""
    user = request.user
    mine = Customer.objects.visible_to(user).alive().filter(owner=user)
    context = {
        "my_customer_count": mine.count(),
        "recent_changes": AuditEntry.objects.filter(actor=user).order_by("-created_at")[:8],
        "team_overdue": engagement_queries.team_overdue(user) if user.data_scope != "own" else [],
        **engagement_queries.today_for(user),
    }
    return render(request, "web/today.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    secret = None
    if request.method == "POST":
        name = (request.POST.get("name") or "").strip()[:100] or _("API token")
        _token, secret = create_api_token(request.user, name, actor=request.user)
        messages.success(request, _("Token created. Copy it now: it will not be shown again."))
    tokens = request.user.api_tokens.all()
    return render(request, "web/api_tokens.html", {"tokens": tokens, "secret": secret})


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def _error(request, status: int, message: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return render(request, "web/error.html", {"status": status, "message": message}, status=status)


def bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        return too_large_response(request)
    return _error(request, 400, _("The request could not be understood."))


def permission_denied(request, exception=None):
    return _error(request, 403, _("You do not have permission to do this."))


def page_not_found(request, exception=None):
    return _error(request, 404, _("This page does not exist or you do not have access to it."))


def server_error(request):
    return HttpResponse(_("Something went wrong on our side. The error was logged."), status=500)
