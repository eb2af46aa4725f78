"""The overview `/`: one row per enabled asset from its precomputed AssetSummary — one query for the
table however many assets — sortable by every column, searchable, narrowed by a scope (a watchlist)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import F, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from heatmaps.models import Asset, AssetSummary
from heatmaps.views.common import (
    STALE_AFTER,
    HtmxHttpRequest,
    format_age,
    format_pct,
    format_price,
    format_usd,
    render_page,
)
from heatmaps.views.trader_cache import shared_with_traders
from heatmaps.views.visitor_cache import shared_with_visitors

DEFAULT_TIMEFRAME = "24h"
BAR = timedelta(minutes=5)


class AssetScope(Protocol):
    """A subset of the overview chosen elsewhere (e.g. a user's watchlist): a heading and the symbols
    to show, in that order."""

    @property
    def title(self) -> str: ...

    @property
    def symbols(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class Column:
    key: str  # the ?sort= value
    label: str
    field: str  # what the database orders by
    numeric: bool = True


COLUMNS = [
    Column("symbol", "Symbol", "symbol", numeric=False),
    Column("price", "Price", "summary__price"),
    Column("change", "24 h", "summary__change_24h_pct"),
    Column("oi", "Open interest", "summary__oi_usd"),
    Column("oi_change", "OI 24 h", "summary__oi_change_24h_pct"),
    Column("funding", "Funding", "summary__funding_rate"),
    Column("volume", "Volume 24 h", "summary__volume_24h_usd"),
    Column("above", "Cluster above", "summary__cluster_above_usd"),
    Column("below", "Cluster below", "summary__cluster_below_usd"),
    Column("fresh", "Newest bar", "summary__last_bar"),
]
BY_KEY = {c.key: c for c in COLUMNS}


@dataclass(frozen=True)
class Header:
    column: Column
    href: str
    sorted: str  # "ascending" / "descending" / "" for aria-sort


@dataclass(frozen=True)
class Row:
    asset: Asset
    price: str
    change: str
    change_sign: int
    price_24h_ago: float | None  # what live ticks recompute the change against
    oi: str
    oi_change: str
    oi_simulated: bool
    held_back: int  # rows left out as implausible over the last day
    funding: str
    next_funding: datetime | None
    next_funding_estimated: bool
    volume: str
    above: str
    above_pct: str
    below: str
    below_pct: str
    last_bar: datetime | None
    age: str
    stale: bool


def _sign(value: float | None) -> int:
    return 0 if not value else (1 if value > 0 else -1)


def _row(asset: Asset, summary: AssetSummary | None, now: datetime) -> Row:
    s = summary
    bar_close = s.last_bar + BAR if s and s.last_bar else None
    return Row(
        asset=asset,
        price=format_price(s.price if s else None),
        change=format_pct(s.change_24h_pct if s else None),
        change_sign=_sign(s.change_24h_pct if s else None),
        price_24h_ago=(
            s.price / (1 + s.change_24h_pct / 100) if s and s.price and s.change_24h_pct is not None else None
        ),
        oi=format_usd(s.oi_usd if s else None),
        oi_change=format_pct(s.oi_change_24h_pct if s else None),
        oi_simulated=bool(s and s.oi_simulated),
        held_back=s.held_back_rows if s else 0,
        funding=f"{s.funding_rate * 100:.4f} %" if s and s.funding_rate is not None else "–",
        next_funding=s.next_funding_time if s else None,
        next_funding_estimated=bool(s and s.next_funding_estimated),
        volume=format_usd(s.volume_24h_usd if s else None),
        above=format_usd(s.cluster_above_usd if s else None),
        above_pct=format_pct(s.cluster_above_pct if s else None, places=1),
        below=format_usd(s.cluster_below_usd if s else None),
        below_pct=format_pct(s.cluster_below_pct if s else None, places=1),
        last_bar=s.last_bar if s else None,
        age=format_age(now - bar_close) if bar_close else "no data",
        stale=bar_close is None or now - bar_close > STALE_AFTER,
    )


def _summary(asset: Asset) -> AssetSummary | None:
    try:
        return asset.summary
    except AssetSummary.DoesNotExist:
        return None


def _scoped(request: HttpRequest, view_kwargs: Mapping[str, Any]) -> bool:
    """An overview narrowed to something of the trader's (their watchlist) is theirs alone."""
    scope = view_kwargs.get("asset_scope")
    return scope is not None and scope(request) is not None


@shared_with_visitors
@shared_with_traders(personal_if=_scoped)
def index(
    request: HtmxHttpRequest, *, asset_scope: Callable[[HttpRequest], AssetScope | None] | None = None
) -> HttpResponse:
    """The enabled assets; ?sort=<column> or -<column>, ?q= searches symbol and name; `asset_scope`
    (wired in the root URLconf) may narrow and order them, or raise Http404."""
    scope = asset_scope(request) if asset_scope is not None else None
    query = request.GET.get("q", "").strip()[:40]
    raw_sort = request.GET.get("sort", "")
    column = BY_KEY.get(raw_sort.lstrip("-"))
    descending = raw_sort.startswith("-")

    assets = Asset.objects.filter(enabled=True).select_related("summary", "reference_exchange")
    if scope is not None:
        assets = assets.filter(symbol__in=list(scope.symbols))
    if query:
        assets = assets.filter(Q(symbol__icontains=query) | Q(display_name__icontains=query))
    if column is not None:
        field = F(column.field)
        assets = assets.order_by(field.desc(nulls_last=True) if descending else field.asc(nulls_last=True), "symbol")
    listed = list(assets)
    if column is None and scope is not None:
        order = {symbol: i for i, symbol in enumerate(scope.symbols)}
        listed.sort(key=lambda a: order[a.symbol])

    now = timezone.now()
    kept = {k: v for k, v in (("watchlist", request.GET.get("watchlist", "")), ("q", query)) if v}
    headers = []
    for c in COLUMNS:
        active = column is not None and column.key == c.key
        # First click: numbers largest first, names A→Z; a second click reverses.
        first = f"-{c.key}" if c.numeric else c.key
        target = (c.key if descending else f"-{c.key}") if active else first
        headers.append(
            Header(
                column=c,
                href="?" + urlencode({**kept, "sort": target}),
                sorted=("descending" if descending else "ascending") if active else "",
            )
        )
    ctx = {
        "rows": [_row(a, _summary(a), now) for a in listed],
        "headers": headers,
        "query": query,
        "sort": raw_sort if column else "",
        "watchlist": kept.get("watchlist", ""),
        "default_timeframe": DEFAULT_TIMEFRAME,
        "scope": scope,
        "stale_minutes": int(STALE_AFTER.total_seconds() // 60),
        "live_markets": not settings.EMBEDDED,  # prices and bar ages move over /markets/events (needs Redis)
        "unknown_sort": raw_sort if raw_sort and column is None else "",
    }
    return render_page(request, "heatmaps/index.html", "overview-table", ctx)
