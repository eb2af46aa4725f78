"""Read-only public JSON API: the asset list and one computed heat map.

USD amounts in grids, clusters and the liquidation map are rounded to whole dollars (the stored
grids are quantised to 0.5 % anyway); prices are returned as stored; times are milliseconds since
the epoch, UTC; datetimes are ISO 8601 with a Z suffix.

The map endpoint takes ``?side=long|short`` (the other side's grid is left out, clusters and recorded
liquidations filtered) and ``?grids=packed``: the grids in their stored form instead of arrays of numbers
(see ``_packed``), which is what the asset page reads — a year's map is then tens of kilobytes on the
wire instead of megabytes.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.utils.cache import patch_cache_control
from django.views.decorators.gzip import gzip_page
from rest_framework.decorators import api_view, authentication_classes, permission_classes, renderer_classes
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from heatmaps.engine import FLOOR_RATIO, TIMEFRAMES
from heatmaps.maps import MODEL, read_heatmap
from heatmaps.marketdata import liquidation_prints
from heatmaps.models import Asset, Heatmap

SIDES = ("both", "long", "short")

CACHE_SECONDS = 30
_USD_KEYS = {"usd", "total_long", "total_short", "cum_long", "cum_short", "tier_long", "tier_short"}


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _whole_usd(value: Any) -> Any:
    if isinstance(value, list):
        return [_whole_usd(v) for v in value]
    if isinstance(value, float):
        return round(value)
    return value


def _round_usd_fields(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: _whole_usd(v) if k in _USD_KEYS else v for k, v in obj.items()}


def _cached(response: Response) -> Response:
    patch_cache_control(response, public=True, max_age=CACHE_SECONDS)
    return response


def _packed(blob: bytes, scale: float) -> dict[str, Any]:
    """A grid as stored (heatmaps/engine/gridcodec.py): uint16 little-endian codes, shape (width, bins),
    delta-coded along time (wrapping), zlib-compressed, base64. Decode: inflate, cumulative sum along
    time modulo 65 536, then 0 → $0 and code c → scale × floor_ratio × exp((c − 1) / 65 534 × ln(1 / floor_ratio))."""
    return {
        "codec": "gridcodec-v1",
        "data": base64.b64encode(blob).decode("ascii"),
        "scale": scale,
        "floor_ratio": FLOOR_RATIO,
        "levels": 65_534,
    }


def _get_asset(symbol: str) -> Asset:
    asset = Asset.objects.filter(symbol=symbol.upper(), enabled=True).first()
    if asset is None:
        raise NotFound(f"unknown asset {symbol!r}")
    return asset


@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def asset_list(request: Request) -> Response:
    """Enabled assets and the timeframes that have a computed map, in the order of the tabs."""
    assets = list(Asset.objects.filter(enabled=True))
    computed: dict[int, set[str]] = {}
    for asset_id, timeframe in Heatmap.objects.filter(asset__in=assets, model=MODEL).values_list(
        "asset_id", "timeframe"
    ):
        computed.setdefault(asset_id, set()).add(timeframe)
    return _cached(
        Response(
            {
                "assets": [
                    {
                        "symbol": asset.symbol,
                        "name": asset.display_name,
                        "base": asset.base,
                        "quote": asset.quote,
                        "timeframes": [key for key in TIMEFRAMES if key in computed.get(asset.pk, set())],
                    }
                    for asset in assets
                ],
                "timeframes": list(TIMEFRAMES),
            }
        )
    )


@gzip_page
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
@renderer_classes([JSONRenderer])
def heatmap_detail(request: Request, symbol: str, timeframe: str) -> Response:
    """One computed map: axes, long/short grids in USD, candles and the derived views."""
    asset = _get_asset(symbol)
    if timeframe not in TIMEFRAMES:
        raise NotFound(f"unknown timeframe {timeframe!r}; choose from {', '.join(TIMEFRAMES)}")
    stored = read_heatmap(asset=asset, timeframe=timeframe)
    if stored is None:
        raise NotFound(f"the {timeframe} map of {asset.symbol} has not been computed yet")
    m = stored.heatmap
    side = request.query_params.get("side", "both")
    if side not in SIDES:
        raise ValidationError({"side": f"choose from {', '.join(SIDES)}"})
    packed = request.query_params.get("grids") == "packed"
    show_long, show_short = side != "short", side != "long"
    grids: dict[str, Any] = {}
    if packed:
        grids["long_packed"] = _packed(bytes(m.long_grid), m.long_scale) if show_long else None
        grids["short_packed"] = _packed(bytes(m.short_grid), m.short_scale) if show_short else None
    else:
        grids["long"] = np.rint(stored.long).astype(np.int64).tolist() if show_long else None
        grids["short"] = np.rint(stored.short).astype(np.int64).tolist() if show_short else None
    prints = liquidation_prints(
        asset=asset, start=m.first_bucket, end=m.first_bucket + timedelta(seconds=m.bar_seconds * m.width)
    )
    return _cached(
        Response(
            {
                "symbol": asset.symbol,
                "timeframe": timeframe,
                "model": m.model,
                "version": m.version,
                "computed_at": iso(m.computed_at),
                "data_start": iso(m.data_start),
                "data_end": iso(m.data_end),
                "candle_exchange": m.candle_exchange,
                "oi_exchanges": m.oi_exchanges,
                "oi_simulated": m.oi_simulated,
                "params": m.params,
                "bar_seconds": m.bar_seconds,
                "width": m.width,
                "bins": m.bins,
                "price_lo": m.price_lo,
                "price_hi": m.price_hi,
                "times": stored.times.tolist(),
                "prices": stored.prices.tolist(),
                "side": side,
                **grids,
                "candles": m.candles,
                "clusters": [_round_usd_fields(c) for c in m.clusters if side in ("both", c["side"])],
                "liquidation_map": _round_usd_fields(m.liquidation_map),
                "colour_scale_usd": m.colour_scale_usd,
                "current_price": m.current_price,
                # Recorded liquidation events in the map's window (largest 500): time, price, USD, side, exchange.
                "liquidations": [p for p in prints if side in ("both", p[3])],
                # On the map's columns: OI in USD at each column's last bar (summed and per exchange),
                # taker buy/sell and total volume in USD, funding settlements [time ms, rate, exchange].
                "panels": m.panels or None,
                "units": {"price": asset.quote, "value": "USD", "time": "ms since epoch, UTC"},
            }
        )
    )
