"""Exceptions raised by actions; views and the API translate them to responses."""

from django.core.exceptions import PermissionDenied, ValidationError  # noqa: F401  (re-exported)


class NotFound(Exception):
    """The object does not exist or is outside the actor's data scope (both look the same: 404)."""


def require(actor, perm: str) -> None:
    """Raise PermissionDenied unless the actor (None = system) holds the permission."""
    if actor is None:
        return
    if not actor.has_perm_code(perm):
        raise PermissionDenied(perm)
