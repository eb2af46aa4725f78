"""Watchlist pages: the user's lists, one list's assets, and the star widget's endpoint.

Every view reaches a list through get_watchlist_for_user, so another user's id is a 404. Writes are
POST forms that work without JavaScript (redirect back); with HTMX they swap only their region.
"""

from __future__ import annotations

from typing import Literal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from accounts.request_cache import forget
from accounts.templatetags.watchlists import star_context
from accounts.views.common import AuthedHttpRequest, safe_next
from accounts.watchlists import (
    MAX_WATCHLISTS,
    WatchlistScope,
    asset_star_toggle,
    get_watchlist_for_user,
    watchlist_add_asset,
    watchlist_create,
    watchlist_delete,
    watchlist_move_asset,
    watchlist_remove_asset,
    watchlist_rename,
    watchlist_scope,
    watchlists_for_user,
)
from heatmaps.models import Asset


def _render(request: AuthedHttpRequest, template: str, partial: str, ctx: dict[str, object]) -> HttpResponse:
    """The whole page, or only its `partial` for an HTMX request."""
    response = render(request, f"{template}#{partial}" if request.htmx else template, ctx)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_http_methods(["GET", "POST"])
def watchlist_list(request: AuthedHttpRequest) -> HttpResponse:
    """The user's lists and a form to create one (optionally with assets, by symbol)."""
    ctx: dict[str, object] = {"errors": {}, "form_name": "", "form_assets": ""}
    if request.method == "POST":
        name = request.POST.get("name", "")
        symbols = request.POST.get("assets", "").replace(",", " ").split()
        try:
            watchlist_create(user=request.user, name=name, assets=symbols)
        except ValidationError as exc:
            ctx.update(errors=exc.message_dict, form_name=name, form_assets=request.POST.get("assets", ""))
        else:
            if not request.htmx:
                return HttpResponseRedirect(reverse("accounts:watchlists"))
            forget(request)
            ctx["nav_changed"] = True
    ctx.update(watchlists=list(watchlists_for_user(user=request.user)), max_watchlists=MAX_WATCHLISTS)
    return _render(request, "accounts/watchlists.html", "watchlist-list", ctx)


def _detail_context(request: AuthedHttpRequest, watchlist_id: int) -> dict[str, object]:
    watchlist = get_watchlist_for_user(user=request.user, watchlist_id=watchlist_id)
    items = list(watchlist.items.all())
    held = {item.asset_id for item in items}
    return {
        "watchlist": watchlist,
        "items": items,
        "addable": [a for a in Asset.objects.filter(enabled=True).only("id", "symbol") if a.pk not in held],
        "errors": {},
    }


@login_required
def watchlist_detail(request: AuthedHttpRequest, watchlist_id: int) -> HttpResponse:
    return _render(request, "accounts/watchlist.html", "watchlist-items", _detail_context(request, watchlist_id))


@login_required
@require_POST
def watchlist_rename_view(request: AuthedHttpRequest, watchlist_id: int) -> HttpResponse:
    watchlist = get_watchlist_for_user(user=request.user, watchlist_id=watchlist_id)
    errors: dict[str, list[str]] = {}
    try:
        watchlist_rename(watchlist=watchlist, name=request.POST.get("name", ""))
    except ValidationError as exc:
        errors = exc.message_dict
    else:
        if not request.htmx:
            return HttpResponseRedirect(reverse("accounts:watchlist", args=[watchlist_id]))
    ctx = _detail_context(request, watchlist_id)
    ctx.update(errors=errors, rename_value=request.POST.get("name", ""), nav_changed=not errors)
    return _render(request, "accounts/watchlist.html", "watchlist-name", ctx)


@login_required
@require_POST
def watchlist_delete_view(request: AuthedHttpRequest, watchlist_id: int) -> HttpResponse:
    watchlist_delete(watchlist=get_watchlist_for_user(user=request.user, watchlist_id=watchlist_id))
    if request.htmx:  # a whole-page change: let htmx navigate instead of swapping a redirect's body
        return HttpResponse(status=204, headers={"HX-Redirect": reverse("accounts:watchlists")})
    return HttpResponseRedirect(reverse("accounts:watchlists"))


def _items_response(request: AuthedHttpRequest, watchlist_id: int, errors: dict[str, list[str]]) -> HttpResponse:
    if not request.htmx and not errors:
        return HttpResponseRedirect(reverse("accounts:watchlist", args=[watchlist_id]))
    ctx = _detail_context(request, watchlist_id)
    ctx["errors"] = errors
    return _render(request, "accounts/watchlist.html", "watchlist-items", ctx)


@login_required
@require_POST
def watchlist_item_add(request: AuthedHttpRequest, watchlist_id: int) -> HttpResponse:
    watchlist = get_watchlist_for_user(user=request.user, watchlist_id=watchlist_id)
    errors: dict[str, list[str]] = {}
    symbol = request.POST.get("asset", "").strip().upper()
    asset = Asset.objects.filter(symbol=symbol, enabled=True).first()
    if asset is None:
        errors = {"asset": [f"Unknown or disabled asset: {symbol or '(none given)'}."]}
    else:
        try:
            watchlist_add_asset(watchlist=watchlist, asset=asset)
        except ValidationError as exc:
            errors = exc.message_dict
    return _items_response(request, watchlist_id, errors)


@login_required
@require_POST
def watchlist_item_move(request: AuthedHttpRequest, watchlist_id: int, symbol: str) -> HttpResponse:
    watchlist = get_watchlist_for_user(user=request.user, watchlist_id=watchlist_id)
    direction: Literal["up", "down"] = "up" if request.POST.get("direction") == "up" else "down"
    errors: dict[str, list[str]] = {}
    try:
        watchlist_move_asset(watchlist=watchlist, symbol=symbol.upper(), direction=direction)
    except ValidationError as exc:
        errors = exc.message_dict
    return _items_response(request, watchlist_id, errors)


@login_required
@require_POST
def watchlist_item_remove(request: AuthedHttpRequest, watchlist_id: int, symbol: str) -> HttpResponse:
    watchlist = get_watchlist_for_user(user=request.user, watchlist_id=watchlist_id)
    asset = get_object_or_404(Asset, symbol=symbol.upper())
    watchlist_remove_asset(watchlist=watchlist, asset=asset)
    return _items_response(request, watchlist_id, {})


@login_required
@require_POST
def star(request: AuthedHttpRequest) -> HttpResponse:
    """Star/unstar an asset (POST asset=SYMBOL, optional watchlist=<id>, next=<url to return to>)."""
    asset = get_object_or_404(Asset, symbol=request.POST.get("asset", "").strip().upper(), enabled=True)
    had_lists = request.user.watchlists.exists()
    watchlist, _ = asset_star_toggle(user=request.user, asset=asset, watchlist_id=request.POST.get("watchlist") or None)
    # A first star makes a list the trader never named: say so, and where to rename it.
    first_list = None if had_lists else watchlist
    next_url = safe_next(request, reverse("heatmaps:index"))
    if not request.htmx:
        if first_list is not None:
            messages.success(
                request,
                f"{asset.symbol} is in your new watchlist “{first_list.name}”; rename it or make more lists "
                "on the watchlists page.",
            )
        return HttpResponseRedirect(next_url)
    forget(request)
    ctx = star_context(request, asset, next_url)
    # Keep the list menu open after choosing a list there, and refresh the header when a first list was made.
    ctx.update(menu_open=bool(request.POST.get("watchlist")), nav_changed=not had_lists, first_list=first_list)
    return render(request, "accounts/_star_button.html", ctx)


def overview_scope(request: HttpRequest) -> WatchlistScope | None:
    """The overview's ?watchlist=<id>: the signed-in user's own list, else a 404 (anonymous users too)."""
    raw = request.GET.get("watchlist")
    if raw is None:
        return None
    if not request.user.is_authenticated:
        raise Http404("No such watchlist")
    return watchlist_scope(user=request.user, watchlist_id=raw)
