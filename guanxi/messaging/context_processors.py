"""Template context for every page: the signed-in user's unread notification count (navbar badge).

Lazy: the count query runs only on pages whose template shows it.
"""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from guanxi.messaging.actions import unread_count


def unread(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": SimpleLazyObject(lambda: unread_count(user))}
