"""The public market endpoints of REST API v1 (/api/v1/assets/…): assets with their latest figures,
the stored heat map as JSON (its cells sparse, dense or packed as stored — the asset page's script
reads the packed form), CSV or PNG, and the market data behind it, page by page.

Anonymous reads are allowed and throttled per address; a token or session is throttled per user.
Every malformed parameter is a 400 naming it (heatmaps/serializers.py parses them), an unknown asset
or a map not computed yet a 404. The heat map answers `If-None-Match` / `If-Modified-Since` from the
stored map's version with a 304, so a client can poll it cheaply.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db.models import F, FloatField, Max, Model, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import http_date, quote_etag
from django.views.decorators.gzip import gzip_page
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer, Serializer

from heatmaps import exports
from heatmaps.engine import TIMEFRAMES
from heatmaps.explorer import FilterError, MapFilter, filtered_map, resolve_filter
from heatmaps.export_window import export_window, png_frame
from heatmaps.maps import MODEL, heatmap_generation, read_heatmap, shared_cache_key
from heatmaps.marketdata import liquidation_prints, market_snapshot
from heatmaps.model_choice import ModelChoice, computed_params, custom_text, map_label, resolve_model, stored_model
from heatmaps.models import (
    EXCHANGE_NAMES,
    Asset,
    Candle,
    Exchange,
    FundingRate,
    Heatmap,
    Liquidation,
    OpenInterest,
    Ticker,
)
from heatmaps.serializers import (
    BAD_REQUEST,
    ERROR_RESPONSES,
    AssetListOut,
    AssetOut,
    CandleOut,
    FundingOut,
    HeatmapOut,
    HeatmapQuery,
    LiquidationOut,
    OpenInterestOut,
    SeriesQuery,
    api_asset,
)

CACHE_SECONDS = 30
# A map's JSON is keyed by its ETag (version, prints, representation): it can stay until evicted.
BODY_CACHE_SECONDS = 10 * 60
_USD_KEYS = {"usd", "total_long", "total_short", "cum_long", "cum_short", "tier_long", "tier_short"}

SYMBOL_PARAMETER = OpenApiParameter(
    "symbol",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The instrument's symbol, e.g. BTCUSDT",
    pattern=r"^[A-Za-z0-9]{2,32}$",
    examples=[OpenApiExample("BTCUSDT", value="BTCUSDT")],
)


def _get_asset(symbol: str) -> Asset:
    return api_asset(symbol, assets=Asset.objects.select_related("reference_exchange"))


def _query(serializer_class: type[Serializer], request: Request) -> dict[str, Any]:
    data: Any = request.query_params
    if serializer_class is HeatmapQuery and len(data.getlist("exchange")) > 1:
        # exchange=binance&exchange=bybit is the list binance,bybit
        data = data.copy()
        data.setlist("exchange", [",".join(data.getlist("exchange"))])
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _model_choice(asset: Asset, query: dict[str, Any], user: Any) -> ModelChoice:
    """The query's model (v1, v2, custom with mp/mmr, mine:<id>): a 400 naming the parameter. Someone
    else's mine:<id> is answered as an unknown one, so it reveals nothing."""
    try:
        return resolve_model(
            asset=asset,
            model=query.get("model"),
            custom_params_text=custom_text(query),
            user=user,
        )
    except FilterError as exc:
        raise ValidationError({exc.param: [exc.message]}) from None


def _map_filter(asset: Asset, query: dict[str, Any], choice: ModelChoice | None = None) -> MapFilter:
    """The query's filter checked against the asset's model and exchanges: a 400 naming the parameter."""
    try:
        return resolve_filter(
            asset=asset,
            tiers=query.get("tiers"),
            lev=query.get("lev"),
            exchange=query.get("exchange"),
            at=query.get("at"),
            model_params=choice.params if choice is not None else None,
        )
    except FilterError as exc:
        raise ValidationError({exc.param: [exc.message]}) from None


def _personal_request(request: Request) -> bool:
    """A request for a user's own model: its tag, body and response are never shared between users."""
    return str(request.query_params.get("model", "")).strip().lower().startswith("mine:")


def _public(response: HttpResponseBase) -> HttpResponseBase:
    patch_cache_control(response, public=True, max_age=CACHE_SECONDS)
    return response


def _private(response: HttpResponseBase) -> HttpResponseBase:
    patch_cache_control(response, private=True, max_age=CACHE_SECONDS)
    response["Vary"] = "Cookie, Authorization"
    return response


# ---- assets ---------------------------------------------------------------------------------------


def _volume_24h_usd(asset: Asset, exchange: Exchange | None, last_bar: datetime | None) -> float | None:
    """The 24 h up to the exchange's newest bar in USD (the quote currency): each bar's quote volume where
    the exchange reports it, else its base volume at its close; the same sum the overview shows."""
    if exchange is None or last_bar is None:
        return None
    usd = Candle.objects.filter(asset=asset, exchange=exchange, open_time__gt=last_bar - timedelta(hours=24)).aggregate(
        usd=Sum(Coalesce(F("quote_volume"), F("volume") * F("close"), output_field=FloatField()))
    )["usd"]
    return float(usd) if usd is not None else None


def _asset_figures(asset: Asset, *, timeframes: set[str], now: datetime) -> dict[str, Any]:
    snapshot = market_snapshot(asset=asset)
    total = next((row for row in snapshot if row.exchange == "all"), None)
    exchanges = {e.code: e for e in asset.exchanges.all()}
    ref = asset.reference_exchange
    newest = Candle.objects.filter(asset=asset, exchange=ref).order_by("-open_time").only("open_time", "close").first()
    change = None
    if newest is not None:
        before = (
            Candle.objects.filter(asset=asset, exchange=ref, open_time__lte=newest.open_time - timedelta(hours=24))
            .order_by("-open_time")
            .only("close")
            .first()
        )
        if before is not None and before.close:
            change = (newest.close / before.close - 1) * 100
    ticker = Ticker.objects.filter(asset=asset).order_by("-time").first()
    latest_oi = OpenInterest.objects.filter(asset=asset).order_by("-time").only("simulated").first()
    volume_usd = {
        row.exchange: _volume_24h_usd(asset, exchanges.get(row.exchange), row.last_bar)
        for row in snapshot
        if row.exchange != "all"
    }
    known_usd = [v for v in volume_usd.values() if v is not None]
    return {
        "symbol": asset.symbol,
        "name": asset.display_name,
        "base": asset.base,
        "quote": asset.quote,
        "reference_exchange": ref.code,
        "timeframes": [key for key in TIMEFRAMES if key in timeframes],
        "price": newest.close if newest else None,
        "price_time": newest.open_time if newest else None,
        "change_24h_pct": change,
        "mark_price": ticker.mark_price if ticker else None,
        "open_interest_usd": total.oi_usd if total else None,
        "open_interest_simulated": bool(latest_oi and latest_oi.simulated),
        "funding_rate": total.funding_rate if total else None,
        "funding_estimate": ticker.funding_rate if ticker else None,
        "next_funding_time": ticker.next_funding_time if ticker else None,
        "volume_24h": total.volume_24h if total else None,
        "volume_24h_usd": sum(known_usd) if known_usd else None,
        "exchanges": [
            {
                "exchange": row.exchange,
                "name": EXCHANGE_NAMES.get(row.exchange, row.exchange),
                "last_bar": row.last_bar,
                "age_seconds": int((now - row.last_bar).total_seconds()) if row.last_bar else None,
                "degraded_since": exchanges[row.exchange].degraded_since if row.exchange in exchanges else None,
                "close": row.close,
                "open_interest_usd": row.oi_usd,
                "funding_rate": row.funding_rate,
                "volume_24h": row.volume_24h,
                "volume_24h_usd": volume_usd[row.exchange],
            }
            for row in snapshot
            if row.exchange != "all"
        ],
    }


def _computed_timeframes(assets: list[Asset]) -> dict[int, set[str]]:
    computed: dict[int, set[str]] = {}
    rows = Heatmap.objects.filter(asset__in=assets, model=MODEL).values_list("asset_id", "timeframe")
    for asset_id, timeframe in rows:
        computed.setdefault(asset_id, set()).add(timeframe)
    return computed


@extend_schema(
    operation_id="assets_list",
    tags=["market"],
    summary="Enabled assets with their latest figures",
    responses={200: AssetListOut, **ERROR_RESPONSES},
)
@api_view(["GET"])
def asset_list(request: Request) -> HttpResponseBase:
    assets = list(Asset.objects.filter(enabled=True).select_related("reference_exchange"))
    computed = _computed_timeframes(assets)
    now = datetime.now(tz=UTC)
    body = {
        "assets": [_asset_figures(a, timeframes=computed.get(a.pk, set()), now=now) for a in assets],
        "timeframes": list(TIMEFRAMES),
    }
    return _public(Response(AssetListOut(body).data))


@extend_schema(
    operation_id="assets_retrieve",
    tags=["market"],
    summary="One asset: latest price, 24 h change, open interest, funding, volume, freshness per exchange",
    parameters=[SYMBOL_PARAMETER],
    responses={200: AssetOut, **ERROR_RESPONSES},
)
@api_view(["GET"])
def asset_detail(request: Request, symbol: str) -> HttpResponseBase:
    asset = _get_asset(symbol)
    computed = _computed_timeframes([asset])
    body = _asset_figures(asset, timeframes=computed.get(asset.pk, set()), now=datetime.now(tz=UTC))
    return _public(Response(AssetOut(body).data))


# ---- the heat map ---------------------------------------------------------------------------------


def _whole_usd(value: Any) -> Any:
    if isinstance(value, list):
        return [_whole_usd(v) for v in value]
    if isinstance(value, float):
        return round(value)
    return value


def _round_usd_fields(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: _whole_usd(v) if k in _USD_KEYS else v for k, v in obj.items()}


def _window_end(heatmap: Heatmap) -> datetime:
    return heatmap.first_bucket + timedelta(seconds=heatmap.bar_seconds * heatmap.width)


def _newest_print(asset: Asset, heatmap: Heatmap) -> datetime | None:
    """The newest recorded liquidation in the map's window: the body carries them, so a new one is a
    new representation even while the map's version stands (an index-only read of (asset, time))."""
    window = Liquidation.objects.filter(asset=asset, time__gte=heatmap.first_bucket, time__lt=_window_end(heatmap))
    return window.aggregate(newest=Max("time"))["newest"]


def _map_tag(
    asset: Asset, query: dict[str, Any], *, row: Heatmap | None = None, choice: ModelChoice | None = None
) -> tuple[str, datetime]:
    """The ETag and the modification time of one representation of the stored map."""
    if choice is not None and choice.personal:
        # The tag follows the parameters, not the id: an edited model is a new representation.
        query = {**query, "model": choice.cache_part}
    if row is None:
        model = stored_model(choice) if choice is not None else MODEL
        row = (
            Heatmap.objects.filter(asset=asset, timeframe=query["timeframe"], model=model)
            .only("pk", "version", "computed_at", "first_bucket", "bar_seconds", "width")
            .first()
        )
    if row is None:
        raise NotFound(f"the {query['timeframe']} map of {asset.symbol} has not been computed yet")
    newest_print = _newest_print(asset, row)
    modified = max(row.computed_at, newest_print) if newest_print else row.computed_at
    return _etag(row, query, newest_print), modified


def _etag(heatmap: Heatmap, query: dict[str, Any], newest_print: datetime | None) -> str:
    """One tag per stored map version, recorded liquidations in its window and representation (side,
    cells, format, size and scale differ)."""
    shape = "&".join(f"{key}={query[key]}" for key in sorted(query))
    prints = f"{newest_print.timestamp():.6f}" if newest_print else "-"
    seed = f"{heatmap.pk}:{heatmap.version}:{heatmap.computed_at.timestamp():.6f}:{prints}:{shape}"
    return quote_etag(hashlib.sha256(seed.encode()).hexdigest()[:32])


@gzip_page
@extend_schema(
    operation_id="assets_heatmap_retrieve",
    tags=["market"],
    summary="The stored heat map: cells, candles, clusters, liquidation map, scale and provenance",
    description=(
        "JSON by default; `format=csv` streams the cells (time_utc, price, long_usd, short_usd), `format=png` "
        "renders the map with the page's colour scale and the candles on top. Poll with `If-None-Match` "
        "(the `ETag` changes with every new version of the map) to get a 304 while nothing changed."
    ),
    parameters=[SYMBOL_PARAMETER, HeatmapQuery],
    responses={
        (200, "application/json"): HeatmapOut,
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="the cells, one row each"),
        (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="the rendered map"),
        304: OpenApiResponse(description="not modified since the ETag or time the client sent"),
        **BAD_REQUEST,
        **ERROR_RESPONSES,
    },
)
@api_view(["GET"])
def heatmap(request: Request, symbol: str) -> HttpResponseBase:
    # The map's tag for this URL is looked up at most once per LIQ_PAGE_CACHE_SECONDS (as the pages'
    # market figures are) and again as soon as one of the asset's maps is stored anew (its generation);
    # with the JSON kept per tag, a popular map costs three cache reads.
    # A personal model is resolved (its owner checked) on every request: its tag is never looked up by
    # URL alone, and its response is private.
    personal = _personal_request(request)
    seconds = 0 if personal else settings.LIQ_PAGE_CACHE_SECONDS
    public = _private if personal else _public
    generation = heatmap_generation(symbol) if seconds else 0
    tag_key = shared_cache_key("heatmap-tag", symbol.upper(), generation, sorted(request.query_params.lists()))
    tag: tuple[str, datetime] | None = cache.get(tag_key) if seconds else None
    asset, query, choice = None, None, None
    if tag is None:
        asset = _get_asset(symbol)
        query = _query(HeatmapQuery, request)
        choice = _model_choice(asset, query, request.user)
        _map_filter(asset, query, choice)  # a filter the map cannot take is a 400 before any tag
        tag = _map_tag(asset, query, choice=choice)
        if seconds and query["format"] == "json":
            cache.set(tag_key, tag, seconds)
    etag, modified = tag
    last_modified = http_date(modified.timestamp())
    unchanged = get_conditional_response(
        request._request, etag=etag, last_modified=int(modified.timestamp()), response=None
    )
    if unchanged is not None:
        return public(_tagged(unchanged, etag, last_modified))
    # The JSON of one tag is the same bytes for every client: built once, then read from the cache.
    if (query is None or query["format"] == "json") and (content := cache.get(f"heatmap-json:{etag}")) is not None:
        return public(_tagged(HttpResponse(content, content_type="application/json"), etag, last_modified))
    if asset is None or query is None or choice is None:
        asset = _get_asset(symbol)
        query = _query(HeatmapQuery, request)
        choice = _model_choice(asset, query, request.user)
    timeframe = query["timeframe"]
    filt = _map_filter(asset, query, choice)
    stored = read_heatmap(asset=asset, timeframe=timeframe, model=stored_model(choice))
    if stored is None:  # removed since the tag was read
        raise NotFound(f"the {timeframe} {choice.version} map of {asset.symbol} has not been computed yet")
    # Tagged by the row just read, so a body is never kept under an older version's tag.
    etag, modified = _map_tag(asset, query, row=stored.heatmap, choice=choice)
    last_modified = http_date(modified.timestamp())
    try:
        shown = filtered_map(asset=asset, stored=stored, filt=filt, params=computed_params(choice))
    except FilterError as exc:
        raise ValidationError({exc.param: [exc.message]}) from None
    if shown is None:
        raise NotFound(f"no market data of {asset.symbol} up to {query['at']:%Y-%m-%d %H:%M} UTC")
    stored = shown
    m = stored.heatmap
    m.model_label = map_label(choice, m)  # type: ignore[attr-defined]  # read by the PNG's title
    sides = {
        name: grid for name, grid in (("long", stored.long), ("short", stored.short)) if query["side"] in (name, "both")
    }
    full_usd = query.get("full") or m.colour_scale_usd
    model_part = [] if choice.key == "v1" else [choice.key.replace(":", "-")[:20]]
    filename = "-".join(
        [asset.symbol, timeframe, *model_part, query["side"], *(f"{k}-{v}" for k, v in filt.query().items())]
    )
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    response: HttpResponseBase
    if query["format"] == "csv":
        cols, bins = export_window(stored, query)
        response = StreamingHttpResponse(
            exports.cells_csv(
                times=stored.times[cols],
                prices=stored.prices[bins],
                sides={name: grid[cols, bins] for name, grid in sides.items()},
                min_usd=query["min_usd"],
            ),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    elif query["format"] == "png":
        cols, bins = export_window(stored, query)
        grid = sum(sides.values(), start=np.zeros_like(stored.long))[cols, bins]
        bin_w = (m.price_hi - m.price_lo) / m.bins
        bar_ms = m.bar_seconds * 1000
        png = exports.render_framed_png(
            grid=grid,
            full_usd=full_usd,
            min_usd=query["min_usd"],
            candles=(m.candles or [])[cols],
            price_lo=m.price_lo + bins.start * bin_w,
            price_hi=m.price_lo + bins.stop * bin_w,
            width=query["width"],
            height=query["height"],
            frame=png_frame(
                asset, m, query, full_usd, start_ms=int(stored.times[cols.start]), bar_ms=bar_ms, cols=cols
            ),
        )
        response = HttpResponse(png, content_type="image/png")
        response["Content-Disposition"] = f'inline; filename="{filename}.png"'
    else:
        body = _heatmap_body(asset, stored, query, full_usd=full_usd, sides=sides)
        body["filter"] = {
            "tiers": list(filt.tiers) if filt.tiers is not None else None,
            "lev": filt.band,
            "exchanges": list(filt.exchanges) if filt.exchanges is not None else None,
            "at": _iso(filt.at) if filt.at is not None else None,
            "origin": getattr(m, "explorer_source", "stored"),
        }
        body["model"] = {
            "key": choice.key,
            "version": choice.version,
            "label": getattr(m, "model_label", ""),
            "stored": choice.stored,
            "sweep_price": (m.params or {}).get("sweep_price") if choice.params is not None else None,
            "query": choice.query(),
        }
        content = JSONRenderer().render(body)
        cache.set(f"heatmap-json:{etag}", content, BODY_CACHE_SECONDS)
        response = HttpResponse(content, content_type="application/json")
    return public(_tagged(response, etag, last_modified))


def _tagged(response: HttpResponseBase, etag: str, last_modified: str) -> HttpResponseBase:
    response["ETag"] = etag
    response["Last-Modified"] = last_modified
    return response


def _heatmap_body(
    asset: Asset, stored: Any, query: dict[str, Any], *, full_usd: float, sides: dict[str, np.ndarray]
) -> dict[str, Any]:
    m: Heatmap = stored.heatmap
    encoding = query["cells"]
    packed = {"long": (m.long_grid, m.long_scale), "short": (m.short_grid, m.short_scale)}

    def cells(name: str) -> Any:
        if name not in sides:
            return None
        if encoding == "dense":
            return exports.dense_base64(sides[name])
        if encoding == "packed":
            blob, scale = packed[name]
            return exports.packed_grid(bytes(blob), scale)
        return exports.sparse_cells(sides[name], min_usd=query["min_usd"])

    return {
        "symbol": asset.symbol,
        "timeframe": m.timeframe,
        "side": query["side"],
        "bar_seconds": m.bar_seconds,
        "width": m.width,
        "bins": m.bins,
        "price_lo": m.price_lo,
        "price_hi": m.price_hi,
        "times": stored.times.tolist(),
        "prices": stored.prices.tolist(),
        "cells": {
            "encoding": encoding,
            "min_usd": query["min_usd"],
            "dtype": {"dense": "float32", "packed": "uint16"}.get(encoding),
            "shape": [m.width, m.bins],
            "long": cells("long"),
            "short": cells("short"),
        },
        "candles": m.candles,
        "clusters": [_round_usd_fields(c) for c in m.clusters],
        "liquidation_map": _round_usd_fields(m.liquidation_map),
        "liquidations": liquidation_prints(asset=asset, start=m.first_bucket, end=_window_end(m)),
        "scale": {
            "full_usd": full_usd,
            "map_full_usd": m.colour_scale_usd,
            "pinned": "full" in query,
            "colour_stops": [[position, *rgb] for position, rgb in exports.COLOUR_STOPS],
        },
        "current_price": m.current_price,
        "provenance": {
            "computed_at": _iso(m.computed_at),
            "data_start": _iso(m.data_start),
            "data_end": _iso(m.data_end),
            "candle_exchange": m.candle_exchange,
            "oi_exchanges": m.oi_exchanges,
            "oi_simulated": m.oi_simulated,
            "replay": settings.LIQ_REPLAY,
            "held_back": m.held_back or {},
            "model": m.model,
            "version": m.version,
            "params": m.params,
        },
        "panels": m.panels or None,
        "units": {"price": asset.quote, "value": "USD", "time": "ms since epoch, UTC"},
    }


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---- time series ----------------------------------------------------------------------------------


class TimeCursorPagination(CursorPagination):
    """Pages in time order with an opaque cursor; the page size is bounded and checked, not clamped."""

    page_size = 500
    max_page_size = 5000
    page_size_query_param = "page_size"
    ordering: Any = ("time", "id")

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if not 1 <= value <= self.max_page_size:
            raise ValidationError({"page_size": [f"Give a whole number from 1 to {self.max_page_size}."]})
        return value

    def decode_cursor(self, request: Request) -> Any:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": ["Invalid cursor: use the next or previous link as given."]}) from None
        # The position is compared with a timestamp column: a hand-made one must still be a time.
        if cursor is not None and cursor.position is not None and not _is_aware_time(str(cursor.position)):
            raise ValidationError({"cursor": ["Invalid cursor: use the next or previous link as given."]})
        return cursor


def _is_aware_time(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


class CandlePages(TimeCursorPagination):
    # Candles and open interest are keyed (asset, exchange, time), with no surrogate id.
    ordering = ("open_time", "exchange_id")


class OpenInterestPages(TimeCursorPagination):
    ordering = ("time", "exchange_id")


class FundingPages(TimeCursorPagination):
    ordering = ("funding_time", "id")


class _SeriesView(ListAPIView):
    model: type[Model]
    time_field = "time"

    def get_queryset(self) -> QuerySet[Any]:
        asset = _get_asset(self.kwargs["symbol"])
        query = _query(SeriesQuery, self.request)
        rows = self.model._default_manager.filter(
            asset=asset, **{f"{self.time_field}__gte": query["start"], f"{self.time_field}__lt": query["end"]}
        ).select_related("exchange")
        if exchange := query.get("exchange"):
            rows = rows.filter(exchange__code=exchange)
        return rows


def _series_schema(serializer: type[BaseSerializer[Any]], summary: str) -> Any:
    return extend_schema_view(
        get=extend_schema(
            tags=["market"],
            summary=summary,
            parameters=[SYMBOL_PARAMETER, SeriesQuery],
            responses={200: serializer(many=True), **BAD_REQUEST, **ERROR_RESPONSES},
        )
    )


@_series_schema(CandleOut, "5-minute candles per exchange (OHLC in the quote currency, volume in the base asset)")
class CandleSeries(_SeriesView):
    model = Candle
    time_field = "open_time"
    serializer_class = CandleOut
    pagination_class = CandlePages


@_series_schema(OpenInterestOut, "Open-interest snapshots per exchange (USD and base asset)")
class OpenInterestSeries(_SeriesView):
    model = OpenInterest
    serializer_class = OpenInterestOut
    pagination_class = OpenInterestPages


@_series_schema(FundingOut, "Settled funding rates per exchange (fraction per interval)")
class FundingSeries(_SeriesView):
    model = FundingRate
    time_field = "funding_time"
    serializer_class = FundingOut
    pagination_class = FundingPages


@_series_schema(LiquidationOut, "Recorded liquidation events (USD, side liquidated)")
class LiquidationSeries(_SeriesView):
    model = Liquidation
    serializer_class = LiquidationOut
    pagination_class = TimeCursorPagination
