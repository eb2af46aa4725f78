"""Read-only public JSON API: the asset list and one computed heat map.

USD amounts in grids, clusters and the liquidation map are rounded to whole dollars (the stored
grids are quantised to 0.5 % anyway); prices are returned as stored; times are milliseconds since
the epoch, UTC; datetimes are ISO 8601 with a Z suffix.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.utils.cache import patch_cache_control
from django.views.decorators.gzip import gzip_page
from rest_framework.decorators import api_view, authentication_classes, permission_classes, renderer_classes
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from heatmaps.engine import TIMEFRAMES
from heatmaps.maps import MODEL, read_heatmap
from heatmaps.marketdata import liquidation_prints
from heatmaps.models import Asset, Heatmap

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
                "long": np.rint(stored.long).astype(np.int64).tolist(),
                "short": np.rint(stored.short).astype(np.int64).tolist(),
                "candles": m.candles,
                "clusters": [_round_usd_fields(c) for c in m.clusters],
                "liquidation_map": _round_usd_fields(m.liquidation_map),
                "colour_scale_usd": m.colour_scale_usd,
                "current_price": m.current_price,
                # Recorded liquidation events in the map's window (largest 500): time, price, USD, side, exchange.
                "liquidations": liquidation_prints(
                    asset=asset,
                    start=m.first_bucket,
                    end=m.first_bucket + timedelta(seconds=m.bar_seconds * m.width),
                ),
                "units": {"price": asset.quote, "value": "USD", "time": "ms since epoch, UTC"},
            }
        )
    )
