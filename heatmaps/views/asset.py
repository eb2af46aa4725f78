"""The asset page `/assets/<SYMBOL>/?tf=&side=&min=&full=`: the heat map, its panels and what it says.

One view, one template. The swappable region (timeframe tabs, side filter, map, side panel) is the
``heatmap-panel`` partial; HTMX requests get only that partial. The map, the panels and the
liquidation-map chart are drawn in the browser by static/heatmaps/ from the JSON API.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from heatmaps.engine import TIMEFRAMES
from heatmaps.explorer import MapFilter
from heatmaps.maps import shared_cache_key
from heatmaps.marketdata import market_snapshot
from heatmaps.model_choice import CUSTOM_KEYS, V1, ModelChoice, map_label, stored_model
from heatmaps.models import Asset, AssetSummary, Heatmap, Liquidation, Ticker
from heatmaps.personal_hook import list_personal_models, signed_in
from heatmaps.views.common import (
    STALE_AFTER,
    HtmxHttpRequest,
    exchange_name,
    format_age,
    format_pct,
    format_price,
    format_usd,
    held_back_text,
    price_decimals,
    render_page,
)
from heatmaps.views.explore import cluster_facts, explore_links, explored_heatmap, parse_explore, parse_model
from heatmaps.views.measured_layer import layer_context, parse_layer
from heatmaps.views.overview import DEFAULT_TIMEFRAME
from heatmaps.views.trader_cache import personal_hole, shared_with_traders
from heatmaps.views.visitor_cache import shared_with_visitors

TOP_CLUSTERS = 8
LATEST_LIQUIDATIONS = 12
LARGE_LIQUIDATION_USD = 10_000  # "large" for the list beside the map; the markers show every recorded one
MAX_USD = 1e13
SIDES = ("both", "long", "short")
# The grids are not needed to render the page; the browser fetches them from the API.
_PAGE_DEFERRED = ("long_grid", "short_grid", "candles", "panels")
# Where a viewer's own annotations go in a panel rendered once for everyone (an HTML comment, so a
# panel rendered for no one in particular still reads as HTML).
_ANNOTATIONS_HOLE = mark_safe("<!--liq:annotations-->")
_MY_MODELS_HOLE = mark_safe("<!--liq:my-models-->")


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
    formed: str = ""  # "3 d" ago, where the stored map recorded it
    mix: str = ""  # its largest leverage tiers' shares: "50x 60 % · 100x 30 %"


@dataclass(frozen=True)
class Tab:
    key: str
    href: str
    active: bool
    computed: bool


@dataclass(frozen=True)
class SideLink:
    key: str
    label: str
    href: str
    active: bool


@dataclass(frozen=True)
class MapParams:
    """The picture's settings from the URL; anything unusable is dropped and said in `ignored`."""

    side: str = "both"
    min_usd: float | None = None
    full_usd: float | None = None
    ignored: tuple[str, ...] = ()
    explore: MapFilter = field(default_factory=MapFilter)  # tiers, exchanges, moment (views/explore.py)
    model: ModelChoice = V1  # v1, v2, custom parameters, the user's own (heatmaps/model_choice.py)
    layer: str = "model"  # model | measured | merged (views/measured_layer.py)

    def query(self, **changes: object) -> dict[str, str]:
        values = {"side": self.side, "min": self.min_usd, "full": self.full_usd, **changes}
        out = {}
        if values["side"] not in (None, "both"):
            out["side"] = str(values["side"])
        for key in ("min", "full"):
            value = values[key]
            if isinstance(value, float):
                out[key] = f"{value:.2f}".rstrip("0").rstrip(".")
        out.update(self.model.query())
        out.update(self.explore.query())
        if self.layer != "model":
            out["layer"] = self.layer
        return out


def _usd_param(name: str, raw: str | None, *, allow_zero: bool) -> tuple[float | None, str]:
    if raw is None or not raw.strip():
        return None, ""
    text = raw.strip().replace(",", "").replace("_", "").lstrip("$")
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= MAX_USD):  # also rejects NaN and infinity
        floor = "0 or more" if allow_zero else "above 0"
        return None, f"Ignored {name}={raw[:40]!r}: give a USD amount {floor} and at most $10T, e.g. 25000000."
    return value, ""


def parse_map_params(request: HttpRequest) -> MapParams:
    ignored = []
    side = request.GET.get("side", "both").strip().lower() or "both"
    if side not in SIDES:
        ignored.append(f"Ignored side={side[:40]!r}: choose long, short or both.")
        side = "both"
    min_usd, problem = _usd_param("min", request.GET.get("min"), allow_zero=True)
    if problem:
        ignored.append(problem)
    full_usd, problem = _usd_param("full", request.GET.get("full"), allow_zero=False)
    if problem:
        ignored.append(problem)
    if min_usd is not None and full_usd is not None and min_usd >= full_usd:
        ignored.append(f"Ignored min={format_usd(min_usd)}: it must be below full intensity ({format_usd(full_usd)}).")
        min_usd = None
    return MapParams(side=side, min_usd=min_usd or None, full_usd=full_usd, ignored=tuple(ignored))


def _default_timeframe(request: HttpRequest) -> str:
    """A signed-in user's preferred timeframe (read off the user object: heatmaps does not import
    accounts), unless it no longer exists; otherwise the site default."""
    preferred = getattr(request.user, "default_timeframe", None)
    return preferred if preferred in TIMEFRAMES else DEFAULT_TIMEFRAME


def _personal_model(request: HttpRequest, kwargs: object) -> bool:
    """A page drawn with the trader's own model is theirs alone: never in the render shared by traders."""
    return request.GET.get("model", "").strip().lower().startswith("mine:")


@shared_with_visitors
@shared_with_traders(personal_if=_personal_model)
def asset_page(request: HtmxHttpRequest, symbol: str) -> HttpResponse:
    """The heat map of one asset; ?tf= picks the timeframe (the user's default timeframe, or 24h)."""
    asset = Asset.objects.select_related("reference_exchange").filter(symbol=symbol.upper(), enabled=True).first()
    if asset is None:
        raise Http404(f"There is no enabled asset {symbol[:32]!r} here.")
    if asset.symbol != symbol:
        query = request.META.get("QUERY_STRING", "")
        url = reverse("heatmaps:asset", args=[asset.symbol])
        return HttpResponseRedirect(f"{url}?{query}" if query else url)

    timeframe = request.GET.get("tf", _default_timeframe(request))
    params = parse_map_params(request)
    model, model_problems = parse_model(request, asset)
    explore, problems = parse_explore(request, asset, model=model)
    params = replace(params, explore=explore, model=model, ignored=(*params.ignored, *model_problems, *problems))
    layer, problem = parse_layer(request, asset, filtered=explore.active, model_key=model.key)
    params = replace(params, layer=layer, ignored=(*params.ignored, *([problem] if problem else [])))
    ctx = _market_context(asset, timeframe, params, path=request.path)
    status = 400 if ctx.get("unknown_timeframe") else 200
    if settings.LIQ_PAGE_CACHE_SECONDS and status == 200:
        ctx["panel_html"] = _panel_html(request, ctx, market=(asset.pk, asset.symbol, timeframe, params, request.path))
    return render_page(request, "heatmaps/asset.html", "heatmap-panel", ctx, status=status)


def _panel_html(request: HtmxHttpRequest, ctx: dict[str, object], *, market: tuple[object, ...]) -> SafeString:
    """The panel rendered once per `LIQ_PAGE_CACHE_SECONDS` for all who see it alike (signed in or not,
    time zone, swap or whole page), with the viewer's own levels and zones put in its one hole."""
    # Staff see an admin link where a map is missing, so their render is not shared with other traders.
    looks = (
        request.user.is_authenticated,
        getattr(request.user, "is_staff", False),
        timezone.get_current_timezone_name(),
        bool(request.htmx),
    )
    key = shared_cache_key("asset-panel", *market, *looks)
    html = cache.get(key)
    if html is None:
        html = render_to_string(
            "heatmaps/asset.html#heatmap-panel",
            {**ctx, "annotations_hole": _ANNOTATIONS_HOLE, "my_models_hole": _MY_MODELS_HOLE},
            request,
        )
        cache.set(key, html, settings.LIQ_PAGE_CACHE_SECONDS)
    personal = render_to_string("heatmaps/_personal_annotations.html", {"asset": ctx["asset"]}, request)
    models = my_models_piece(request, ctx.get("model_switcher"))  # type: ignore[arg-type]
    return mark_safe(html.replace(_ANNOTATIONS_HOLE, personal, 1).replace(_MY_MODELS_HOLE, models, 1))


def _market_context(asset: Asset, timeframe: str, params: MapParams, *, path: str) -> dict[str, object]:
    """Everything the page shows of the market, the same for every viewer of this URL: read at most
    once per `LIQ_PAGE_CACHE_SECONDS` (the visitors' shared renders already are), so a signed-in
    trader's page costs their personal pieces and the template, not eight more queries."""
    seconds = settings.LIQ_PAGE_CACHE_SECONDS
    key = shared_cache_key("asset-market", asset.pk, asset.symbol, timeframe, params, path)
    cached = cache.get(key) if seconds else None
    if cached is not None:
        return dict(cached)
    model = stored_model(params.model)
    computed = set(Heatmap.objects.filter(asset=asset, model=model).values_list("timeframe", flat=True))
    keep = params.query()
    ctx: dict[str, object] = {
        "asset": asset,
        "timeframe": timeframe,
        "tabs": [
            Tab(key=k, href="?" + urlencode({"tf": k, **keep}), active=k == timeframe, computed=k in computed)
            for k in TIMEFRAMES
        ],
        "sides": [
            SideLink(
                key=s,
                label=label,
                href="?" + urlencode({"tf": timeframe, **params.query(side=s)}),
                active=s == params.side,
            )
            for s, label in (("both", "Both"), ("long", "Longs"), ("short", "Shorts"))
        ],
        "known_timeframes": ", ".join(TIMEFRAMES),
        "heatmap": None,
        "params": params,
        "reset_href": "?" + urlencode({"tf": timeframe, **params.query(min=None, full=None)}),
        "path": path,
        "degraded": list(asset.exchanges.filter(enabled=True, degraded_since__isnull=False).order_by("code")),
        "model_switcher": model_switcher(params, timeframe=timeframe, path=path),
        **layer_context(asset, timeframe=timeframe, keep=keep, layer=params.layer),
    }
    if timeframe not in TIMEFRAMES:
        # The asset exists, the request is wrong: a 400 on the page itself, with the tabs to recover.
        ctx["unknown_timeframe"] = True
    elif timeframe in computed:
        heatmap = Heatmap.objects.defer(*_PAGE_DEFERRED).filter(asset=asset, timeframe=timeframe, model=model).first()
        stored = heatmap
        if heatmap is not None and (params.explore.active or not params.model.stored):
            explored, problem = explored_heatmap(
                asset=asset, timeframe=timeframe, filt=params.explore, model=params.model
            )
            if explored is None and problem:
                params = replace(params, explore=MapFilter(), ignored=(*params.ignored, problem))
                ctx["params"] = params
            heatmap = explored or heatmap
        if heatmap is not None:
            ctx.update(_panel_context(asset, heatmap, params))
            ctx["model_shown"] = map_label(params.model, heatmap)
            ctx.update(
                explore_links(
                    asset=asset,
                    keep={"tf": timeframe, **params.query()},
                    filt=params.explore,
                    stored=stored,
                    shown=heatmap,
                    model=params.model,
                )
            )
    if seconds:
        cache.set(key, ctx, seconds)
    return ctx


def _panel_context(asset: Asset, heatmap: Heatmap, params: MapParams) -> dict[str, object]:
    price = heatmap.current_price
    decimals = price_decimals(price) if price else None
    shown = [c for c in heatmap.clusters if params.side in ("both", c["side"])]
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
            **cluster_facts(c, now=timezone.now()),
        )
        for c in shown[:TOP_CLUSTERS]
    ]
    lmap = heatmap.liquidation_map or {}
    ticker = Ticker.objects.filter(asset=asset).select_related("exchange").order_by("-time").first()
    market = {
        "ticker": ticker,
        "funding_estimate": f"{ticker.funding_rate * 100:.4f} %" if ticker and ticker.funding_rate is not None else "",
        **_market_figures(asset),
    }
    window_end = heatmap.first_bucket + timedelta(seconds=heatmap.bar_seconds * heatmap.width)
    events = Liquidation.objects.filter(
        asset=asset, time__gte=heatmap.first_bucket, time__lt=window_end, value__gte=LARGE_LIQUIDATION_USD
    )
    if params.side != "both":
        events = events.filter(side=params.side)
    latest = [
        {
            "time": e.time,
            "side": e.side,
            "price": format_price(e.price, decimals=decimals),
            "usd": format_usd(e.value),
            "exchange": exchange_name(e.exchange.code),
        }
        for e in events.select_related("exchange").order_by("-time")[:LATEST_LIQUIDATIONS]
    ]
    now = timezone.now()
    bar_close = heatmap.data_end + timedelta(minutes=5)
    data_stale = now - bar_close > STALE_AFTER
    oi_names = [exchange_name(code) for code in heatmap.oi_exchanges]
    # The public API's map in its packed form: what any client gets, no page-only endpoint.
    query = urlencode({"timeframe": heatmap.timeframe, "side": params.side, "cells": "packed", **_api_filter(params)})
    api_url = f"{reverse('api:heatmap', args=[asset.symbol])}?{query}"
    return {
        "heatmap": heatmap,
        "market": market,
        "current_price": format_price(price),
        "clusters": clusters,
        "total_long": format_usd(lmap.get("total_long")),
        "total_short": format_usd(lmap.get("total_short")),
        "leverages": lmap.get("leverages") or [],
        "colour_scale": format_usd(params.full_usd or heatmap.colour_scale_usd),
        "min_scale": format_usd(params.min_usd or 0),
        "candle_source": exchange_name(heatmap.candle_exchange),
        "oi_source": ", ".join(oi_names) if oi_names else "no",
        "held_back": held_back_text(heatmap.held_back or {}),
        "column": _duration(heatmap.bar_seconds),
        "api_url": api_url,
        "latest_liquidations": latest,
        "large_liquidation": format_usd(LARGE_LIQUIDATION_USD),
        "computed_age": format_age(now - heatmap.computed_at),
        "data_age": format_age(now - bar_close),
        "data_stale": data_stale,
        "stale_minutes": int(STALE_AFTER.total_seconds() // 60),
        "short_history": _short_history(heatmap),
        "export_png": f"{reverse('api:heatmap', args=[asset.symbol])}?{_export_query(heatmap, params, 'png')}",
        "export_csv": f"{reverse('api:heatmap', args=[asset.symbol])}?{_export_query(heatmap, params, 'csv')}",
    }


def _export_query(heatmap: Heatmap, params: MapParams, fmt: str) -> str:
    """The API's PNG or CSV of the map as the page shows it: timeframe, side and intensity (the page's
    script adds the zoomed window when there is one)."""
    query: dict[str, object] = {
        "timeframe": heatmap.timeframe,
        "side": params.side,
        "format": fmt,
        **_api_filter(params),
    }
    if params.min_usd:
        query["min_usd"] = f"{params.min_usd:.0f}"
    if params.full_usd and fmt == "png":
        query["full"] = f"{params.full_usd:.0f}"
    if fmt == "png":
        query.update(width=1600, height=900)
    return urlencode(query)


def _api_filter(params: MapParams) -> dict[str, str]:
    """The map explorer's filter and model as the API's parameters (the same names as the page's)."""
    return {**params.model.query(), **params.explore.query()}


@dataclass(frozen=True)
class ShortHistory:
    """A map whose window reaches back before the stored history: how much of it is empty and why."""

    empty_pct: int
    since: datetime


def _short_history(heatmap: Heatmap) -> ShortHistory | None:
    """Most of a long map is blank when the market data starts inside its window (a 1y map of a
    month's history): say so rather than leave the trader to guess. None when the data covers at
    least 80 % of the window."""
    window = timedelta(seconds=heatmap.bar_seconds * heatmap.width)
    start = max(heatmap.data_start, heatmap.first_bucket)
    covered = (heatmap.first_bucket + window) - start
    if window.total_seconds() <= 0 or covered >= window * 0.8:
        return None
    empty = 1 - covered / window
    return ShortHistory(empty_pct=round(empty * 100), since=heatmap.data_start)


def _market_figures(asset: Asset) -> dict[str, str]:
    """OI, funding and volume across exchanges: from the overview's precomputed row (marketdata/summary.py),
    read live only until the first one is written."""
    summary = AssetSummary.objects.filter(asset=asset).first()
    if summary is not None:
        oi, oi_change, funding, volume = (
            summary.oi_usd,
            summary.oi_change_24h_pct,
            summary.funding_rate,
            summary.volume_24h_usd,
        )
    else:
        agg = next((r for r in market_snapshot(asset=asset) if r.exchange == "all"), None)
        oi, oi_change = (agg.oi_usd if agg else None), None
        funding = agg.funding_rate if agg else None
        volume = agg.volume_24h * agg.close if agg and agg.volume_24h is not None and agg.close else None
    return {
        "oi": format_usd(oi),
        "oi_change": f"{format_pct(oi_change)} 24 h" if oi_change is not None else "",
        "funding": f"{funding * 100:.4f} %" if funding is not None else "–",
        "volume_usd": format_usd(volume),
    }


def _duration(seconds: int) -> str:
    for unit, label in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % unit == 0:
            return f"{seconds // unit}-{label}"
    return f"{seconds}-second"


@dataclass(frozen=True)
class ModelLink:
    key: str
    label: str
    href: str
    active: bool
    title: str = ""


def model_switcher(params: MapParams, *, timeframe: str, path: str) -> dict[str, object]:
    """The model switcher's links (v1, v2, and the custom model in the URL while it is shown), each
    keeping every other setting; the signed-in trader's own models are added per request
    (``my_model_links``), outside every shared render."""
    keep = {"tf": timeframe, **{k: v for k, v in params.query().items() if k not in ("model", *CUSTOM_KEYS)}}
    links = [
        ModelLink(
            key="v1",
            label="v1",
            href="?" + urlencode(keep),
            active=params.model.key == "v1",
            title="Model v1: the published model, swept on last price",
        ),
        ModelLink(
            key="v2",
            label="v2",
            href="?" + urlencode({**keep, "model": "v2"}),
            active=params.model.key == "v2",
            title="Model v2: tiers with half-lives, the venues' maintenance margin and maximum leverage, "
            "swept on mark price where recorded",
        ),
    ]
    if not params.model.stored and not params.model.personal:
        links.append(
            ModelLink(
                key="custom",
                label="custom",
                href="?" + urlencode({**keep, **params.model.query()}),
                active=True,
                title="Model v2 with the parameters in this link",
            )
        )
    return {"links": links, "keep": keep, "current": params.model.key, "path": path}


def my_models_piece(request: HttpRequest | None, switcher: dict[str, object] | None) -> SafeString:
    """The switcher's "My models" for the request: during a shared render a hole filled per trader
    (the same piece again, for the real user), else this viewer's own links."""
    hole = personal_hole(request, "{% load model_switch %}{% my_models switcher %}", switcher=switcher)
    if hole is not None:
        return hole
    return my_models_markup(request.user, switcher) if request is not None else mark_safe("")


def my_models_markup(user: object, switcher: dict[str, object] | None) -> SafeString:
    """The switcher's "My models" for this viewer: their own models' links and the ⚙ to Model settings
    (nothing for a visitor). Built without a template: it is filled into every signed-in trader's page."""
    if not signed_in(user):
        return mark_safe("")
    links = my_model_links(user, switcher)
    path = str((switcher or {}).get("path", ""))
    own = format_html_join(
        "",
        '<a href="{}" hx-get="{}{}" hx-target="#heatmap-panel" hx-swap="outerHTML" hx-push-url="true" '
        'class="tab model-mine" title="{}"{}>{}</a>',
        (
            (m.href, path, m.href, m.title, mark_safe(' aria-current="page"') if m.active else "", m.label)
            for m in links
        ),
    )
    return format_html(
        '<span class="my-models" data-testid="my-models">{}{}<a href="{}" class="model-settings" '
        'data-testid="model-settings" aria-label="Model settings…" title="Model settings…: make, change or '
        'delete your own models">⚙</a></span>',
        mark_safe('<span class="explore-label muted">My models</span>') if links else "",
        own,
        reverse("accounts:personal-models"),
    )


def my_model_links(user: object, switcher: dict[str, object] | None) -> list[ModelLink]:
    """The signed-in trader's own models as switcher links (none for anyone else)."""
    if not switcher:
        return []
    keep: dict[str, str] = dict(switcher["keep"])  # type: ignore[call-overload]
    return [
        ModelLink(
            key=f"mine:{spec.id}",
            label=spec.name,
            href="?" + urlencode({**keep, "model": f"mine:{spec.id}"}),
            active=switcher["current"] == f"mine:{spec.id}",
            title=f"Draw the map with your model {spec.name!r}",
        )
        for spec in list_personal_models(user)
    ]
