"""Small pieces the personal pages share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from accounts.models import User


class AuthedHttpRequest(HttpRequest):
    """A request behind login_required, with django-htmx's details."""

    user: User
    htmx: HtmxDetails


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The `next` the form carried if it points back into this site, else `fallback` (no open redirects)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback
