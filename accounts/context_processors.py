from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.request_cache import user_watchlists


def watchlists(request: HttpRequest) -> dict[str, Any]:
    """`user_watchlists` for the header's links: one query, and only for a signed-in user."""
    return {"user_watchlists": user_watchlists(request)}
