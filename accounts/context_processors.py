from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.request_cache import user_watchlists


def watchlists(request: HttpRequest) -> dict[str, Any]:
    """`user_watchlists` for the header's links: one query, only for a signed-in user, and only when a
    template shows them (an HTMX swap of a page's panel does not)."""
    return {"user_watchlists": SimpleLazyObject(lambda: user_watchlists(request))}
