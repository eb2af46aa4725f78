"""Public pages: the asset list and one page per asset with its heat map.

The asset page is one view and one template. The swappable region (timeframe tabs, map, side
panel) is the ``heatmap-panel`` partial; HTMX requests get only that partial, everything else the
full page. The map itself is drawn in the browser by static/heatmaps/heatmap.js from the JSON API.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails

from heatmaps import validity
from heatmaps.engine import TIMEFRAMES
from heatmaps.health import readiness_payload
from heatmaps.maps import MODEL
from heatmaps.marketdata import market_snapshot
from heatmaps.models import EXCHANGE_NAMES, Asset, Backtest, Candle, Heatmap, Ticker

DEFAULT_TIMEFRAME = "24h"
TOP_CLUSTERS = 8
# The grids are not needed to render the page; the browser fetches them from the API.
_PAGE_DEFERRED = ("long_grid", "short_grid")


def format_usd(value: float | None) -> str:
    """$1.23B, $616.6M, $48.2K, $950: compact, always with the unit."""
    if value is None or not math.isfinite(value):
        return "–"
    sign = "-" if value < 0 else ""
    value = abs(value)
    for threshold, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= threshold:
            scaled = value / threshold
            return f"{sign}${scaled:,.{2 if scaled < 10 else 1}f}{suffix}"
    return f"{sign}${value:,.0f}"


def price_decimals(value: float) -> int:
    """Decimals that show about six significant digits: 85,085.7 · 3,012.45 · 0.512345."""
    if not math.isfinite(value) or value == 0:
        return 2
    return max(0, min(8, 5 - math.floor(math.log10(abs(value)))))


def format_price(value: float | None, *, decimals: int | None = None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    places = price_decimals(value) if decimals is None else decimals
    return f"{value:,.{places}f}"


def exchange_name(code: str) -> str:
    return EXCHANGE_NAMES.get(code, code)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@dataclass(frozen=True)
class ClusterRow:
    side: str
    price_range: str
    usd: str
    distance: str
    # Raw figures for links that prefill a form (an alert on this cluster): USD and quote prices.
    peak_price: float | None = None
    usd_value: float | None = None
    above: bool = False


@dataclass(frozen=True)
class Tab:
    key: str
    active: bool
    computed: bool


class AssetScope(Protocol):
    """A subset of the overview chosen elsewhere (e.g. a user's watchlist): a heading and the symbols
    to show, in that order."""

    @property
    def title(self) -> str: ...

    @property
    def symbols(self) -> Sequence[str]: ...


def index(
    request: HttpRequest, *, asset_scope: Callable[[HttpRequest], AssetScope | None] | None = None
) -> HttpResponse:
    """The enabled assets; `asset_scope` (wired in the root URLconf) may narrow and order them, or raise Http404."""
    scope = asset_scope(request) if asset_scope is not None else None
    newest = Candle.objects.filter(asset=OuterRef("pk"), exchange=OuterRef("reference_exchange")).order_by("-open_time")
    enabled = Asset.objects.filter(enabled=True)
    if scope is not None:
        enabled = enabled.filter(symbol__in=list(scope.symbols))
    assets = enabled.select_related("reference_exchange").annotate(
        last_close=Subquery(newest.values("close")[:1]),
        last_time=Subquery(newest.values("open_time")[:1]),
    )
    listed = list(assets)
    if scope is not None:
        order = {symbol: i for i, symbol in enumerate(scope.symbols)}
        listed.sort(key=lambda a: order[a.symbol])
    rows = [
        {
            "asset": asset,
            "price": format_price(asset.last_close),
            "time": asset.last_time,
        }
        for asset in listed
    ]
    ctx = {"rows": rows, "default_timeframe": DEFAULT_TIMEFRAME, "scope": scope}
    return render(request, "heatmaps/index.html", ctx)


def asset_page(request: HtmxHttpRequest, symbol: str) -> HttpResponse:
    """The heat map of one asset; ?tf= picks the timeframe (the user's default timeframe, or 24h, when absent)."""
    asset = get_object_or_404(Asset.objects.select_related("reference_exchange"), symbol=symbol.upper(), enabled=True)
    if asset.symbol != symbol:
        query = request.META.get("QUERY_STRING", "")
        url = reverse("heatmaps:asset", args=[asset.symbol])
        return HttpResponseRedirect(f"{url}?{query}" if query else url)

    timeframe = request.GET.get("tf", _default_timeframe(request))
    pinned_usd, pin_error = _pinned_full_usd(request.GET.get("full", ""))
    computed = set(Heatmap.objects.filter(asset=asset, model=MODEL).values_list("timeframe", flat=True))
    ctx: dict[str, object] = {
        "asset": asset,
        "timeframe": timeframe,
        "tabs": [Tab(key=key, active=key == timeframe, computed=key in computed) for key in TIMEFRAMES],
        "known_timeframes": ", ".join(TIMEFRAMES),
        "heatmap": None,
        # Feeds that keep failing: the map may be behind, and the trader should know why.
        "pinned_usd": pinned_usd,
        "pin_error": pin_error,
        "pin_query": "&" + urlencode({"full": f"{pinned_usd:.2f}".rstrip("0").rstrip(".")}) if pinned_usd else "",
        "degraded": list(asset.exchanges.filter(enabled=True, degraded_since__isnull=False).order_by("code")),
    }
    status = 200
    if timeframe not in TIMEFRAMES:
        # A hand-edited or stale link: say what went wrong on the page itself, with the tabs to recover.
        ctx["unknown_timeframe"] = True
        status = 404
    elif timeframe in computed:
        heatmap = Heatmap.objects.defer(*_PAGE_DEFERRED).filter(asset=asset, timeframe=timeframe, model=MODEL).first()
        if heatmap is not None:
            ctx.update(_panel_context(asset, heatmap))
            if pinned_usd:
                ctx["colour_scale"] = format_usd(pinned_usd)

    # History restores must get the whole page: htmx swaps the response into <body>.
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    template = "heatmaps/asset.html#heatmap-panel" if partial else "heatmaps/asset.html"
    response = render(request, template, ctx, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _default_timeframe(request: HttpRequest) -> str:
    """A signed-in user's preferred timeframe (read off the user object: heatmaps does not import
    accounts), unless it no longer exists; otherwise the site default."""
    preferred = getattr(request.user, "default_timeframe", None)
    return preferred if preferred in TIMEFRAMES else DEFAULT_TIMEFRAME


MAX_PINNED_USD = 1e13


def _pinned_full_usd(raw: str) -> tuple[float | None, str]:
    """?full= pins the USD at full intensity so maps are comparable; anything else is ignored, saying so."""
    text = raw.strip().replace(",", "").replace("_", "").lstrip("$")
    if not text:
        return None, ""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value <= MAX_PINNED_USD):  # also rejects NaN and infinity
        return None, f"Ignored full={raw[:40]!r}: give a USD amount above 0 and at most $10T, e.g. 25000000."
    return value, ""


def _panel_context(asset: Asset, heatmap: Heatmap) -> dict[str, object]:
    price = heatmap.current_price
    decimals = price_decimals(price) if price else None
    clusters = [
        ClusterRow(
            side="longs" if c["side"] == "long" else "shorts",
            price_range=f"{format_price(c['price_low'], decimals=decimals)} – "
            f"{format_price(c['price_high'], decimals=decimals)}",
            usd=format_usd(c["usd"]),
            distance=f"{c['distance_pct']:+.2f} %" if c.get("distance_pct") is not None else "–",
            peak_price=c.get("peak_price"),
            usd_value=c.get("usd"),
            above=c["side"] == "short",
        )
        for c in heatmap.clusters[:TOP_CLUSTERS]
    ]
    lmap = heatmap.liquidation_map or {}
    agg = next((r for r in market_snapshot(asset=asset) if r.exchange == "all"), None)
    market = None
    if agg is not None:
        ticker = Ticker.objects.filter(asset=asset).select_related("exchange").order_by("-time").first()
        market = {
            "ticker": ticker,
            "funding_estimate": f"{ticker.funding_rate * 100:.4f} %"
            if ticker and ticker.funding_rate is not None
            else "",
            "oi": format_usd(agg.oi_usd) if agg.oi_usd is not None else "–",
            "funding": f"{agg.funding_rate * 100:.4f} %" if agg.funding_rate is not None else "–",
            "volume": f"{agg.volume_24h:,.0f} {asset.base}" if agg.volume_24h is not None else "–",
        }
    oi_names = [exchange_name(code) for code in heatmap.oi_exchanges]
    return {
        "heatmap": heatmap,
        "market": market,
        "current_price": format_price(price),
        "clusters": clusters,
        "total_long": format_usd(lmap.get("total_long")),
        "total_short": format_usd(lmap.get("total_short")),
        "colour_scale": format_usd(heatmap.colour_scale_usd),
        "candle_source": exchange_name(heatmap.candle_exchange),
        "oi_source": ", ".join(oi_names) if oi_names else "no",
        "column": _duration(heatmap.bar_seconds),
        "api_url": reverse("heatmaps:api-heatmap", args=[asset.symbol, heatmap.timeframe]),
    }


def _duration(seconds: int) -> str:
    for unit, label in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % unit == 0:
            return f"{seconds // unit}-{label}"
    return f"{seconds}-second"


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else, so a database outage doesn't get the
    web processes restarted in a loop; /readyz says whether they can do useful work."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    ready, payload = readiness_payload()
    response = JsonResponse(payload, status=200 if ready else 503)
    response["Cache-Control"] = "no-store"
    response._has_been_logged = True  # type: ignore[attr-defined]  # a probe's 503 is an answer, not a server error
    return response


# Model accuracy: the stored walk-forward backtests (heatmaps/validity.py), in words and a chart.

CHART = 200  # the reliability chart's side in SVG units


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    r: float
    label: str


@dataclass(frozen=True)
class BacktestCard:
    backtest: Backtest
    sentences: list[str]
    model_points: list[ChartPoint]
    baseline_points: list[ChartPoint]
    every: str
    horizon: str
    oi_source: str


def _chart_points(rows: list[dict[str, object]] | None) -> list[ChartPoint]:
    points = []
    for row in rows or []:
        n, predicted, realised = row["n"], row["predicted"], row["realised"]
        if not isinstance(n, int) or not n or not isinstance(predicted, float) or not isinstance(realised, float):
            continue
        points.append(
            ChartPoint(
                x=round(predicted * CHART, 1),
                y=round((1 - realised) * CHART, 1),
                r=round(2 + 2 * math.sqrt(n), 1),
                label=f"predicted {predicted * 100:.0f} %, realised {realised * 100:.0f} % over {n} steps",
            )
        )
    return points


def backtest_card(backtest: Backtest) -> BacktestCard:
    reliability = backtest.report.get("first_reach", {}).get("reliability") or {}
    names = [exchange_name(code) for code in backtest.oi_exchanges]
    return BacktestCard(
        backtest=backtest,
        sentences=validity.plain_words(backtest.report),
        model_points=_chart_points(reliability.get("model")),
        baseline_points=_chart_points(reliability.get("baseline")),
        every=validity.duration_plain(backtest.every_seconds),
        horizon=validity.duration_plain(backtest.horizon_seconds),
        oi_source=", ".join(names) if names else "no",
    )


def model_page(request: HtmxHttpRequest) -> HttpResponse:
    """/model/: the latest backtest of every enabled asset × timeframe; ?asset= narrows to one asset."""
    assets = list(Asset.objects.filter(enabled=True))
    chosen = request.GET.get("asset", "").upper()
    shown = [a for a in assets if a.symbol == chosen] if chosen else assets
    status = 200
    if chosen and not shown:
        status = 404
    stored = validity.latest_backtests(assets=shown)
    sections = [{"asset": a, "cards": [backtest_card(b) for b in stored[a.pk]]} for a in shown]
    ctx = {"assets": assets, "chosen": chosen, "sections": sections, "chart": CHART}
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    response = render(
        request, "heatmaps/model.html#model-report" if partial else "heatmaps/model.html", ctx, status=status
    )
    patch_vary_headers(response, ["HX-Request"])
    return response
