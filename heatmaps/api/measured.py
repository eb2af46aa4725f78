"""``GET /api/v1/assets/<SYMBOL>/measured/``: Hyperliquid's measured positions on a map's price axis.

Real USD at the real liquidation prices of the accounts the sweep reads, next to how much of the venue's
open interest they cover; no model. Binned on the stored map's price axis (``timeframe``), so each bin
lines up with that map's liquidation map.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
from django.db.models import Max
from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from heatmaps.engine import TIMEFRAMES
from heatmaps.engine.layer_compare import compare_layers
from heatmaps.exchanges.hyperliquid_accounts import MeasuredLayer
from heatmaps.explorer import FilterError, filtered_map, resolve_filter
from heatmaps.ingest.hyperliquid_sweep import asset_coin, measured_for_asset
from heatmaps.maps import StoredMap, read_heatmap
from heatmaps.models import Asset, HyperliquidAccount
from heatmaps.serializers import ERROR_RESPONSES, api_asset


class SideComparisonOut(serializers.Serializer):
    correlation = serializers.FloatField(allow_null=True, help_text="Pearson, USD per bin, modelled vs measured")
    model_share_within = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text='share of the side\'s modelled USD within ±1 % ("1") and ±5 % ("5") of price',
    )
    measured_share_within = serializers.DictField(child=serializers.FloatField(allow_null=True))


class ComparisonOut(serializers.Serializer):
    long = SideComparisonOut()
    short = SideComparisonOut()


class MeasuredOut(serializers.Serializer):
    symbol = serializers.CharField()
    coin = serializers.CharField(help_text="Hyperliquid's name for the asset")
    timeframe = serializers.CharField(help_text="the stored map whose price axis the bins follow")
    price_lo = serializers.FloatField(help_text="quote currency")
    price_hi = serializers.FloatField(help_text="quote currency")
    bins = serializers.IntegerField()
    long_usd = serializers.ListField(child=serializers.FloatField(), help_text="USD of longs liquidated per bin")
    short_usd = serializers.ListField(child=serializers.FloatField(), help_text="USD of shorts liquidated per bin")
    coverage = serializers.FloatField(
        allow_null=True, help_text="observed position notional ÷ all positions on the venue (2 × its open interest)"
    )
    long_coverage = serializers.FloatField(allow_null=True, help_text="observed longs ÷ the venue's open interest")
    short_coverage = serializers.FloatField(allow_null=True, help_text="observed shorts ÷ the venue's open interest")
    observed_long_usd = serializers.FloatField()
    observed_short_usd = serializers.FloatField()
    placed_usd = serializers.FloatField(help_text="the part with a liquidation price")
    outside_usd = serializers.FloatField(help_text="placed beyond the map's price axis")
    without_liquidation_price = serializers.IntegerField(help_text="positions skipped for a null liquidationPx")
    venue_oi_usd = serializers.FloatField(allow_null=True, help_text="Hyperliquid's open interest, USD")
    accounts = serializers.IntegerField(help_text="accounts swept")
    model_comparison = ComparisonOut(
        allow_null=True,
        help_text="the v1 model's map of Hyperliquid's open interest alone against the measured layer (shape, not "
        "size); Hyperliquid's figure, not the market's: its leverage mix is its own",
    )
    swept_at = serializers.DateTimeField(allow_null=True, help_text="newest account read (UTC)")


@extend_schema(
    operation_id="assets_measured_retrieve",
    tags=["market"],
    summary="Hyperliquid's measured positions at their real liquidation prices, with their coverage",
    parameters=[
        OpenApiParameter("symbol", OpenApiTypes.STR, OpenApiParameter.PATH, description="e.g. BTCUSDT"),
        OpenApiParameter("timeframe", OpenApiTypes.STR, description="the map whose price axis to use (24h)"),
    ],
    responses={200: MeasuredOut, 400: ERROR_RESPONSES[404], **ERROR_RESPONSES},
)
@api_view(["GET"])
def measured(request: Request, symbol: str) -> HttpResponseBase:
    asset = _get_asset_on_hyperliquid(symbol)
    timeframe = request.query_params.get("timeframe", "24h")
    if timeframe not in TIMEFRAMES:
        raise ValidationError({"timeframe": f"one of {', '.join(TIMEFRAMES)}"})
    stored = read_heatmap(asset=asset, timeframe=timeframe)
    if stored is None:
        raise NotFound(f"the {timeframe} map of {asset.symbol} is not computed yet")
    m = stored.heatmap
    edges = np.linspace(m.price_lo, m.price_hi, m.bins + 1)
    layer = measured_for_asset(asset, edges=edges)
    accounts = HyperliquidAccount.objects.filter(enabled=True, last_swept_at__isnull=False)
    body: dict[str, Any] = {
        "symbol": asset.symbol,
        "coin": asset_coin(asset),
        "timeframe": timeframe,
        "price_lo": m.price_lo,
        "price_hi": m.price_hi,
        "bins": m.bins,
        "long_usd": [round(float(v), 2) for v in layer.long_usd],
        "short_usd": [round(float(v), 2) for v in layer.short_usd],
        "coverage": layer.coverage,
        "long_coverage": layer.side_coverage("long"),
        "short_coverage": layer.side_coverage("short"),
        "observed_long_usd": layer.observed_long_usd,
        "observed_short_usd": layer.observed_short_usd,
        "placed_usd": layer.placed_usd,
        "outside_usd": layer.outside_usd,
        "without_liquidation_price": layer.without_price,
        "venue_oi_usd": layer.venue_oi_usd,
        "accounts": accounts.count(),
        "swept_at": accounts.aggregate(newest=Max("last_swept_at"))["newest"],
        "model_comparison": _model_comparison(asset, stored, layer),
    }
    return Response(MeasuredOut(body).data)


def _get_asset_on_hyperliquid(symbol: str) -> Asset:
    return api_asset(
        symbol,
        assets=Asset.objects.filter(exchanges__code="hyperliquid"),
        missing="no enabled asset {symbol} on Hyperliquid",
    )


def _model_comparison(asset: Asset, stored: StoredMap, layer: MeasuredLayer) -> dict[str, Any] | None:
    """The modelled map of Hyperliquid's open interest alone, on the same bins, against the measured one."""
    try:
        filt = resolve_filter(asset=asset, exchange="hyperliquid")
    except FilterError:
        return None
    modelled = filtered_map(asset=asset, stored=stored, filt=filt)
    if modelled is None:
        return None
    m = modelled.heatmap
    if (m.price_lo, m.price_hi, m.bins) != (stored.heatmap.price_lo, stored.heatmap.price_hi, stored.heatmap.bins):
        return None  # another price axis: bins would not line up
    lmap = m.liquidation_map or {}
    price = lmap.get("price")
    if not price:
        return None
    sides = compare_layers(
        edges=np.linspace(m.price_lo, m.price_hi, m.bins + 1), price=float(price),
        model_long=np.sum(np.asarray(lmap.get("tier_long") or [np.zeros(m.bins)], dtype=float), axis=0),
        model_short=np.sum(np.asarray(lmap.get("tier_short") or [np.zeros(m.bins)], dtype=float), axis=0),
        measured_long=layer.long_usd, measured_short=layer.short_usd,
    )  # fmt: skip
    return {side: asdict(c) for side, c in sides.items()}
