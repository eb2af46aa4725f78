"""Per-request caches of the signed-in user's lists, so a page of star widgets and the header's
watchlist links cost two queries in all, not one per row."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import Watchlist
from accounts.personal_cache import personal_cached
from accounts.watchlists import asset_memberships

_LISTS = "_liq_user_watchlists"
_MEMBERSHIPS = "_liq_asset_memberships"


def user_watchlists(request: HttpRequest) -> list[Watchlist]:
    """The signed-in user's lists (oldest first, no items); empty for anonymous users."""
    if not request.user.is_authenticated:
        return []
    cached = getattr(request, _LISTS, None)
    if cached is None:
        user = request.user
        cached = personal_cached(
            user, "watchlists", lambda: list(Watchlist.objects.filter(user=user).only("id", "name", "created_at"))
        )
        setattr(request, _LISTS, cached)
    return cached


def memberships(request: HttpRequest) -> dict[int, set[int]]:
    """asset id → ids of the signed-in user's lists holding it."""
    if not request.user.is_authenticated:
        return {}
    cached = getattr(request, _MEMBERSHIPS, None)
    if cached is None:
        cached = asset_memberships(user=request.user)
        setattr(request, _MEMBERSHIPS, cached)
    return cached


def forget(request: HttpRequest) -> None:
    """After a write in this request: the next read fetches again."""
    for name in (_LISTS, _MEMBERSHIPS):
        if hasattr(request, name):
            delattr(request, name)
