"""Small request helpers shared by every app's views (no app imports)."""

from __future__ import annotations

from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, fallback: str = "") -> str:
    """The `next` URL of a POST (or GET) when it points back into this site, else `fallback`.

    Redirecting to whatever `next` says is an open redirect (a link to our site that lands the user
    on a look-alike login page); every view that honours `next` goes through here."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback
