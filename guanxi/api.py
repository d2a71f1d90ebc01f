"""The REST API root: `/api/` (OpenAPI at /api/openapi.json, docs at /api/docs)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.security import APIKeyHeader, HttpBearer, django_auth

from guanxi.approvals.api import router as approvals_router
from guanxi.automation.api import router as automation_router
from guanxi.core.actions import authenticate_token
from guanxi.core.api import router as core_router
from guanxi.core.exceptions import NotFound
from guanxi.customers.api import router as customers_router
from guanxi.customers.identity import DuplicateFound
from guanxi.customization.api import router as customization_router
from guanxi.customization.openapi import describe_custom_fields
from guanxi.sales.api import router as sales_router
from guanxi.webhooks.api import router as webhooks_router


class BearerToken(HttpBearer):
    """`Authorization: Bearer gx_...` with a per-user API token."""

    def authenticate(self, request, token):
        user = authenticate_token(token)
        if user is not None:
            request.user = user
        return user


class TokenHeader(APIKeyHeader):
    """`X-API-Token: gx_...` for clients that cannot set Authorization."""

    param_name = "X-API-Token"

    def authenticate(self, request, key):
        user = authenticate_token(key) if key else None
        if user is not None:
            request.user = user
        return user


class GuanxiAPI(NinjaAPI):
    """The API root; its OpenAPI document describes the company's live custom fields."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        describe_custom_fields(schema)
        return schema


api = GuanxiAPI(
    title="Guanxi CRM API",
    version="1",
    description="Customers and more. Authenticate with `Authorization: Bearer <token>` "
    "(create a token on the API tokens page) or a logged-in session (with CSRF token).",
    auth=[BearerToken(), TokenHeader(), django_auth],
    urls_namespace="api",
)


def _loc(field: str) -> list[str]:
    # "custom_fields.<key>" -> ["custom_fields", "<key>"]; a custom field key is one part.
    head, _sep, rest = field.partition(".")
    if head == "custom_fields" and rest:
        return [head, rest]
    return field.split(".")


def field_errors(exc: ValidationError) -> list[dict]:
    if hasattr(exc, "error_dict"):
        return [
            {"loc": ["body", *_loc(field)], "msg": str(msg), "type": "value_error"}
            for field, messages in exc.message_dict.items()
            for msg in messages
        ]
    return [{"loc": ["body"], "msg": str(m), "type": "value_error"} for m in exc.messages]


@api.exception_handler(ValidationError)
def on_validation_error(request, exc):
    return api.create_response(request, {"detail": field_errors(exc)}, status=422)


@api.exception_handler(NotFound)
def on_not_found(request, exc):
    return api.create_response(request, {"detail": _("Not found.")}, status=404)


@api.exception_handler(PermissionDenied)
def on_permission_denied(request, exc):
    return api.create_response(request, {"detail": _("You do not have permission to do this.")}, status=403)


@api.exception_handler(DuplicateFound)
def on_duplicate(request, exc):
    return api.create_response(request, exc.as_dict(), status=409)


@api.exception_handler(RequestDataTooBig)
def on_too_big(request, exc):
    return api.create_response(request, {"detail": _("The request is too large.")}, status=413)


def register_routers() -> None:
    api.add_router("/", core_router)
    api.add_router("/", customization_router)
    api.add_router("/customers", customers_router)
    api.add_router("/", sales_router)  # /api/deals..., /api/pipelines...
    api.add_router("/approvals", approvals_router)
    api.add_router("/", webhooks_router)  # /api/webhooks/...
    api.add_router("/", automation_router)  # /api/automation/...


register_routers()
