"""Watchlists: a trader's named, ordered lists of assets.

Plain keyword-only functions used by the pages, the JSON API and the demo command alike. Each write
runs in one transaction and raises django.core.exceptions.ValidationError keyed by field name
("name", "assets", "asset", "watchlist"), so nothing is saved when anything is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Prefetch, QuerySet

from accounts.models import User, Watchlist, WatchlistItem
from accounts.ownership import owned_or_404
from accounts.personal_cache import personal_cached, personal_changed
from heatmaps.models import Asset

MAX_WATCHLISTS = 50
NAME_MAX_LENGTH = Watchlist._meta.get_field("name").max_length or 60
DEFAULT_NAME = "Watchlist"


@dataclass(frozen=True)
class WatchlistScope:
    """What the overview shows for ?watchlist=<id>: a heading and the symbols in the list's order."""

    title: str
    symbols: list[str]
    watchlist_id: int


# ---- reading --------------------------------------------------------------------------------------


def watchlists_for_user(*, user: User) -> QuerySet[Watchlist]:
    """The user's lists, oldest first, with their items and assets prefetched in list order."""
    items = WatchlistItem.objects.select_related("asset").order_by("position", "id")
    return Watchlist.objects.filter(user=user).prefetch_related(Prefetch("items", queryset=items))


def get_watchlist_for_user(*, user: User, watchlist_id: int | str) -> Watchlist:
    """The user's own list; another user's id, a missing one or a non-number is a 404 (never a 403)."""
    return owned_or_404(watchlists_for_user(user=user), watchlist_id, what="watchlist")


def watchlist_symbols(*, watchlist: Watchlist) -> list[str]:
    return [item.asset.symbol for item in watchlist.items.all()]


def watchlist_scope(*, user: User, watchlist_id: str) -> WatchlistScope:
    watchlist = get_watchlist_for_user(user=user, watchlist_id=watchlist_id)
    return WatchlistScope(
        title=watchlist.name, symbols=watchlist_symbols(watchlist=watchlist), watchlist_id=watchlist.pk
    )


def asset_memberships(*, user: User) -> dict[int, set[int]]:
    """asset id → ids of the user's lists holding it, in one query (the star widgets of a whole page)."""

    def read() -> dict[int, set[int]]:
        memberships: dict[int, set[int]] = {}
        for asset_id, watchlist_id in WatchlistItem.objects.filter(watchlist__user=user).values_list(
            "asset_id", "watchlist_id"
        ):
            memberships.setdefault(asset_id, set()).add(watchlist_id)
        return memberships

    return personal_cached(user, "memberships", read)


# ---- writing --------------------------------------------------------------------------------------


@transaction.atomic
def watchlist_create(*, user: User, name: str, assets: Sequence[str] = ()) -> Watchlist:
    # Locking the user row serialises two concurrent creates, so the limit cannot be overshot.
    User.objects.select_for_update().filter(pk=user.pk).first()
    if Watchlist.objects.filter(user=user).count() >= MAX_WATCHLISTS:
        raise ValidationError(
            {"name": f"You already have {MAX_WATCHLISTS} watchlists, the most allowed; delete one first."}
        )
    clean_name = _clean_name(user=user, name=name)
    resolved = _resolve_assets(assets)
    watchlist = _save_name(Watchlist(user=user, name=clean_name))
    _replace_items(watchlist, resolved)
    return watchlist


@transaction.atomic
def watchlist_rename(*, watchlist: Watchlist, name: str) -> Watchlist:
    watchlist.name = _clean_name(user=watchlist.user, name=name, exclude_pk=watchlist.pk)
    return _save_name(watchlist)


def watchlist_delete(*, watchlist: Watchlist) -> None:
    watchlist.delete()


@transaction.atomic
def watchlist_set_assets(*, watchlist: Watchlist, assets: Sequence[str]) -> Watchlist:
    """Replace the list's contents with `assets` (symbols) in that order."""
    _replace_items(watchlist, _resolve_assets(assets))
    return watchlist


@transaction.atomic
def watchlist_add_asset(*, watchlist: Watchlist, asset: Asset) -> None:
    _lock(watchlist)
    if not asset.enabled:
        raise ValidationError({"asset": f"{asset.symbol} is not available."})
    if WatchlistItem.objects.filter(watchlist=watchlist, asset=asset).exists():
        return
    last = WatchlistItem.objects.filter(watchlist=watchlist).aggregate(last=Max("position"))["last"]
    WatchlistItem.objects.create(watchlist=watchlist, asset=asset, position=0 if last is None else last + 1)


@transaction.atomic
def watchlist_remove_asset(*, watchlist: Watchlist, asset: Asset) -> None:
    _lock(watchlist)
    WatchlistItem.objects.filter(watchlist=watchlist, asset=asset).delete()
    _renumber(watchlist)


@transaction.atomic
def watchlist_move_asset(*, watchlist: Watchlist, symbol: str, direction: Literal["up", "down"]) -> None:
    """Swap the asset with its neighbour; moving the first up or the last down changes nothing."""
    _lock(watchlist)
    items = list(WatchlistItem.objects.filter(watchlist=watchlist).select_related("asset").order_by("position", "id"))
    index = next((i for i, item in enumerate(items) if item.asset.symbol == symbol), None)
    if index is None:
        raise ValidationError({"asset": f"{symbol} is not in {watchlist.name}."})
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(items):
        return
    items[index], items[other] = items[other], items[index]
    for position, item in enumerate(items):
        item.position = position
    WatchlistItem.objects.bulk_update(items, ["position"])


@transaction.atomic
def asset_star_toggle(*, user: User, asset: Asset, watchlist_id: int | str | None = None) -> tuple[Watchlist, bool]:
    """Star or unstar `asset` in one of the user's lists; returns the list and whether the asset is now in it.

    Without a list id the asset goes to the user's first list, or to a new "Watchlist" when there is none.
    """
    if watchlist_id not in (None, ""):
        watchlist = get_watchlist_for_user(user=user, watchlist_id=watchlist_id)
    else:
        first = Watchlist.objects.filter(user=user).first()
        if first is None:
            return watchlist_create(user=user, name=DEFAULT_NAME, assets=[asset.symbol]), True
        watchlist = first
    if WatchlistItem.objects.filter(watchlist=watchlist, asset=asset).exists():
        watchlist_remove_asset(watchlist=watchlist, asset=asset)
        return watchlist, False
    watchlist_add_asset(watchlist=watchlist, asset=asset)
    return watchlist, True


# ---- helpers --------------------------------------------------------------------------------------


def _clean_name(*, user: User, name: str, exclude_pk: int | None = None) -> str:
    clean = (name or "").strip()
    if not clean:
        raise ValidationError({"name": "Give the watchlist a name."})
    if len(clean) > NAME_MAX_LENGTH:
        raise ValidationError({"name": f"Keep the name to {NAME_MAX_LENGTH} characters (this one has {len(clean)})."})
    clash = Watchlist.objects.filter(user=user, name__iexact=clean)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError({"name": f"You already have a watchlist called “{clean}”."})
    return clean


def _save_name(watchlist: Watchlist) -> Watchlist:
    # iexact and Lower() can disagree on exotic case folding, and two requests can race: the database's
    # constraint has the last word, reported like the check above.
    try:
        with transaction.atomic():
            watchlist.save()
    except IntegrityError:
        raise ValidationError({"name": f"You already have a watchlist called “{watchlist.name}”."}) from None
    return watchlist


def _resolve_assets(symbols: Sequence[str]) -> list[Asset]:
    wanted = [str(symbol).strip().upper() for symbol in symbols]
    seen: set[str] = set()
    for symbol in wanted:
        if symbol in seen:
            raise ValidationError({"assets": f"{symbol} is listed twice."})
        seen.add(symbol)
    found = {a.symbol: a for a in Asset.objects.filter(symbol__in=wanted, enabled=True)}
    missing = [symbol or "(empty)" for symbol in wanted if symbol not in found]
    if missing:
        raise ValidationError({"assets": f"Unknown or disabled asset: {', '.join(missing)}."})
    return [found[symbol] for symbol in wanted]


def _replace_items(watchlist: Watchlist, assets: list[Asset]) -> None:
    personal_changed(watchlist.user_id)  # bulk_create sends no signals
    WatchlistItem.objects.filter(watchlist=watchlist).delete()
    WatchlistItem.objects.bulk_create(
        WatchlistItem(watchlist=watchlist, asset=asset, position=position) for position, asset in enumerate(assets)
    )


def _renumber(watchlist: Watchlist) -> None:
    items = list(WatchlistItem.objects.filter(watchlist=watchlist).order_by("position", "id"))
    changed = [item for position, item in enumerate(items) if item.position != position]
    for position, item in enumerate(items):
        item.position = position
    if changed:
        WatchlistItem.objects.bulk_update(changed, ["position"])


def _lock(watchlist: Watchlist) -> None:
    """Row lock on the list: concurrent moves and stars of one list apply one after another. Every write
    of the list's items takes it, so it also marks the owner's cached pieces stale (bulk updates send
    no signals)."""
    Watchlist.objects.select_for_update().filter(pk=watchlist.pk).first()
    personal_changed(watchlist.user_id)
