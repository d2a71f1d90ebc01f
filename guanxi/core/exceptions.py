"""Exceptions raised by actions; views and the API translate them to responses."""

from django.core.exceptions import PermissionDenied, ValidationError  # noqa: F401  (re-exported)
from django.http import Http404


class NotFound(Http404):
    """The object does not exist or is outside the actor's data scope (both look the same: 404).

    A subclass of Http404, so a page that lets it through answers 404 like any missing page (no
    `except NotFound: raise Http404` in views); the API maps it to a JSON 404 in one handler
    (guanxi.api.on_not_found)."""


def require(actor, perm: str) -> None:
    """Raise PermissionDenied unless the actor (None = system) holds the permission."""
    if actor is None:
        return
    if not actor.has_perm_code(perm):
        raise PermissionDenied(perm)
