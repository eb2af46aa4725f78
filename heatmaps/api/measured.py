"""``GET /api/v1/assets/<SYMBOL>/measured/``: Hyperliquid's measured positions on a map's price axis.

Real USD at the real liquidation prices of the accounts the sweep reads, next to how much of the venue's
open interest they cover; no model. Binned on the stored map's price axis (``timeframe``), so each bin
lines up with that map's liquidation map. ``layer=merged`` adds the modelled liquidation map with the
measured share of Hyperliquid's modelled part replaced by the measured USD (docs/model.md).
"""

from __future__ import annotations

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
from heatmaps.explorer import hyperliquid_model_map
from heatmaps.ingest.hyperliquid_sweep import asset_coin, measured_for_asset
from heatmaps.maps import read_heatmap
from heatmaps.models import Asset, HyperliquidAccount
from heatmaps.serializers import BAD_REQUEST, ERROR_RESPONSES, api_asset
from heatmaps.validity.measured import comparison_json, hyperliquid_part, merged_layer, model_comparison

LAYERS = ("measured", "merged")


class SideComparisonOut(serializers.Serializer):
    correlation = serializers.FloatField(allow_null=True, help_text="Pearson, USD per bin, modelled vs measured")
    model_share_within = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text='share of the side\'s modelled USD within ±1 % ("1") and ±5 % ("5") of price',
    )
    measured_share_within = serializers.DictField(child=serializers.FloatField(allow_null=True))
    model_usd_within = serializers.DictField(
        child=serializers.FloatField(), help_text='modelled USD within ±1 % ("1") and ±5 % ("5") of price'
    )
    measured_usd_within = serializers.DictField(child=serializers.FloatField())


class ComparisonOut(serializers.Serializer):
    long = SideComparisonOut()
    short = SideComparisonOut()


class MergedOut(serializers.Serializer):
    long_usd = serializers.ListField(
        child=serializers.FloatField(),
        help_text="USD of longs liquidated per bin at the newest column: model_all − long_coverage × model_hl + "
        "measured, never below the measured USD",
    )
    short_usd = serializers.ListField(child=serializers.FloatField())
    long_measured_share = serializers.ListField(
        child=serializers.FloatField(), help_text="measured USD ÷ merged USD per bin, 0–1 (0 where the bin is empty)"
    )
    short_measured_share = serializers.ListField(child=serializers.FloatField())
    long_coverage = serializers.FloatField(help_text="the longs' coverage the merge used, clipped to 0–1")
    short_coverage = serializers.FloatField()


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
    layer = serializers.ChoiceField(choices=LAYERS)
    merged = MergedOut(
        allow_null=True,
        help_text="null unless layer=merged: the modelled map of every venue at the newest column, Hyperliquid's "
        "measured share replaced by the measured USD; null when Hyperliquid's open interest or its modelled "
        "map is missing",
    )


@extend_schema(
    operation_id="assets_measured_retrieve",
    tags=["market"],
    summary="Hyperliquid's measured positions at their real liquidation prices, with their coverage",
    parameters=[
        OpenApiParameter("symbol", OpenApiTypes.STR, OpenApiParameter.PATH, description="e.g. BTCUSDT"),
        OpenApiParameter("timeframe", OpenApiTypes.STR, description="the map whose price axis to use (24h)"),
        OpenApiParameter(
            "layer",
            OpenApiTypes.STR,
            enum=LAYERS,
            description="measured (default): the measured positions alone; merged: also the modelled map with "
            "Hyperliquid's measured share replaced by the measured USD, and each bin's measured share. An asset "
            "without Hyperliquid answers 400 naming layer (404 when no layer is asked for)",
        ),
    ],
    responses={200: MeasuredOut, **BAD_REQUEST, **ERROR_RESPONSES},
)
@api_view(["GET"])
def measured(request: Request, symbol: str) -> HttpResponseBase:
    wanted = request.query_params.get("layer")
    asset = _get_asset_on_hyperliquid(symbol, layer=wanted)
    if wanted is not None and wanted not in LAYERS:
        raise ValidationError({"layer": f"one of {', '.join(LAYERS)}"})
    timeframe = request.query_params.get("timeframe", "24h")
    if timeframe not in TIMEFRAMES:
        raise ValidationError({"timeframe": f"one of {', '.join(TIMEFRAMES)}"})
    stored = read_heatmap(asset=asset, timeframe=timeframe)
    if stored is None:
        raise NotFound(f"the {timeframe} map of {asset.symbol} is not computed yet")
    m = stored.heatmap
    edges = np.linspace(m.price_lo, m.price_hi, m.bins + 1)
    layer = measured_for_asset(asset, edges=edges)
    modelled = hyperliquid_part(stored, hyperliquid_model_map(asset, stored))
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
        "model_comparison": comparison_json(
            model_comparison(modelled=modelled, layer=layer) if modelled is not None else None
        ),
        "layer": wanted or "measured",
    }
    body["merged"] = (
        merged_layer(stored=stored, modelled=modelled, layer=layer) if wanted == "merged" and modelled else None
    )
    return Response(MeasuredOut(body).data)


def _get_asset_on_hyperliquid(symbol: str, *, layer: str | None) -> Asset:
    """The asset on Hyperliquid; an enabled asset that is not there is a 400 naming ``layer`` when a layer was
    asked for (there is no measured layer to give), else a 404 as for any missing resource."""
    asset = api_asset(symbol)
    if not asset.exchanges.filter(code="hyperliquid").exists():
        if layer is not None:
            raise ValidationError({"layer": f"{asset.symbol} is not on Hyperliquid: it has no measured layer"})
        raise NotFound(f"no enabled asset {symbol[:40]!r} on Hyperliquid")
    return asset
