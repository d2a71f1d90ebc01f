from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from guanxi.core.context import current_request_id, request_context


class RequestIdMiddleware:
    """Give every request an id (or take the caller's X-Request-ID) for audit entries and logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if incoming.isalnum() and len(incoming) <= 64 else None
        with request_context(rid) as _ctx:
            request.request_id = current_request_id()
            response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return too_large_response(request)
        return None


def too_large_response(request):
    message = _("The request is too large. Fields are limited in length and uploads must use a file field.")
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


class SecurityHeadersMiddleware:
    """A strict Content-Security-Policy: no inline or third-party script can run on our pages."""

    POLICY = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'"
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Swagger UI (django-ninja) needs an inline bootstrap script; it renders no user data.
        if not request.path.startswith("/api/docs"):
            response.setdefault("Content-Security-Policy", self.POLICY)
        return response
