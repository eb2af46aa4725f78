"""``GET /api/v1/assets/<SYMBOL>/heatmap/breakdown/``: one cell of a map split by leverage tier and by
exchange, and each cluster's exchange mix — what the asset page's tooltip and cluster list show.

The map is named as on the map endpoint (timeframe, model and filters); the cell by a time (UTC ms) and
a price. Without ``time`` and ``price`` only the clusters' mix is answered. Every part is a map the
explorer draws on request and caches (heatmaps/cell_breakdown.py says why the exchanges' parts need
not add up to the whole).
"""

from __future__ import annotations

import copy
from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from heatmaps.cell_breakdown import EXCHANGES_NOTE, CellError, cell_breakdown, cluster_exchange_mix
from heatmaps.explorer import FilterError, filtered_map, resolve_filter
from heatmaps.maps import read_heatmap
from heatmaps.model_choice import computed_params, custom_text, resolve_model, stored_model
from heatmaps.models import Asset
from heatmaps.serializers import BAD_REQUEST, ERROR_RESPONSES, FiniteFloatField, HeatmapQuery, api_asset

_MAP_FIELDS = ("timeframe", "model", "mp", "mmr", "maxlev", "tiers", "lev", "exchange", "at")


class BreakdownQuery(serializers.Serializer):
    time = serializers.IntegerField(
        required=False, min_value=0, help_text="The cell's time, UTC ms (any instant inside its column)."
    )
    price = FiniteFloatField(required=False, min_value=0.0, help_text="The cell's price (quote currency).")

    def get_fields(self) -> dict[str, serializers.Field]:
        # The map is named exactly as on the map endpoint: the same fields, help and errors.
        fields = {name: copy.deepcopy(HeatmapQuery._declared_fields[name]) for name in _MAP_FIELDS}
        return {**fields, **super().get_fields()}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("time" in attrs) != ("price" in attrs):
            missing = "price" if "time" in attrs else "time"
            raise serializers.ValidationError({missing: ["Give both time and price for a cell, or neither."]})
        if "tiers" in attrs and "lev" in attrs:
            raise serializers.ValidationError({"lev": ["Give tiers or lev, not both."]})
        return attrs


class PartOut(serializers.Serializer):
    key = serializers.CharField(help_text='the leverage ("50") or the exchange code ("binance")')
    name = serializers.CharField(help_text='"50x" or "Binance USDS-M"')
    long_usd = serializers.FloatField(help_text="USD of longs liquidated in the cell")
    short_usd = serializers.FloatField(help_text="USD of shorts liquidated in the cell")


class CellOut(serializers.Serializer):
    time = serializers.IntegerField(help_text="start of the cell's column, UTC ms")
    price_low = serializers.FloatField()
    price_high = serializers.FloatField()
    long_usd = serializers.FloatField(help_text="the cell as the map shows it")
    short_usd = serializers.FloatField()
    tiers = PartOut(many=True, help_text="per leverage tier: they add up to the cell")
    exchanges = PartOut(many=True, help_text="per exchange (empty for a one-exchange asset); see exchanges_note")


class ExchangeShareOut(serializers.Serializer):
    exchange = serializers.CharField()
    name = serializers.CharField()
    usd = serializers.FloatField(help_text="USD of the exchange's own map on the cluster's side and bins, now")
    share = serializers.FloatField(allow_null=True, help_text="0–1 of the exchanges' sum")


class ClusterMixOut(serializers.Serializer):
    side = serializers.CharField()
    price_low = serializers.FloatField()
    price_high = serializers.FloatField()
    usd = serializers.FloatField()
    exchanges = ExchangeShareOut(many=True)


class BreakdownOut(serializers.Serializer):
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    model = serializers.CharField()
    cell = CellOut(allow_null=True)
    clusters = ClusterMixOut(many=True)
    exchanges_note = serializers.CharField()


def _bad(exc: FilterError | CellError) -> ValidationError:
    return ValidationError({exc.param: [exc.message]})


@extend_schema(
    summary="One cell of a map by leverage tier and exchange, and the clusters' exchange mix",
    parameters=[BreakdownQuery, OpenApiParameter("symbol", str, OpenApiParameter.PATH)],
    responses={200: BreakdownOut, **ERROR_RESPONSES, **BAD_REQUEST},
    tags=["market"],
)
@api_view(["GET"])
def heatmap_breakdown(request: Request, symbol: str) -> HttpResponseBase:
    asset = api_asset(symbol, assets=Asset.objects.select_related("reference_exchange"))
    query_in = BreakdownQuery(data=request.query_params)
    query_in.is_valid(raise_exception=True)
    query = dict(query_in.validated_data)
    timeframe = query.get("timeframe") or "24h"
    try:
        choice = resolve_model(
            asset=asset,
            model=query.get("model"),
            custom_params_text=custom_text(query),
            user=request.user,
        )
        filt = resolve_filter(
            asset=asset,
            tiers=query.get("tiers"),
            lev=query.get("lev"),
            exchange=query.get("exchange"),
            at=query.get("at"),
            model_params=choice.params,
        )
    except FilterError as exc:
        raise _bad(exc) from None
    stored = read_heatmap(asset=asset, timeframe=timeframe, model=stored_model(choice))
    if stored is None:
        raise NotFound(f"the {timeframe} map of {asset.symbol} has not been computed yet")
    params = computed_params(choice)
    try:
        shown = filtered_map(asset=asset, stored=stored, filt=filt, params=params)
        if shown is None:
            raise NotFound(f"no market data of {asset.symbol} up to that moment")
        cell = None
        if "time" in query:
            cell = cell_breakdown(
                asset=asset,
                stored=stored,
                shown=shown,
                filt=filt,
                params=params,
                time_ms=query["time"],
                price=query["price"],
            )
        mix = cluster_exchange_mix(asset=asset, stored=stored, shown=shown, filt=filt, params=params)
    except (FilterError, CellError) as exc:
        raise _bad(exc) from None
    clusters = [
        {
            "side": c["side"],
            "price_low": c["price_low"],
            "price_high": c["price_high"],
            "usd": c["usd"],
            **m,
        }
        for c, m in zip(shown.heatmap.clusters or [], mix, strict=True)
    ]
    body = {
        "symbol": asset.symbol,
        "timeframe": timeframe,
        "model": choice.key,
        "cell": None
        if cell is None
        else {
            "time": cell.time_ms,
            "price_low": cell.price_low,
            "price_high": cell.price_high,
            "long_usd": cell.long_usd,
            "short_usd": cell.short_usd,
            "tiers": [_part(p) for p in cell.tiers],
            "exchanges": [_part(p) for p in cell.exchanges],
        },
        "clusters": clusters,
        "exchanges_note": EXCHANGES_NOTE,
    }
    response = Response(BreakdownOut(body).data)
    if str(request.query_params.get("model", "")).strip().lower().startswith("mine:"):
        response["Cache-Control"] = "private"
    return response


def _part(p: Any) -> dict[str, Any]:
    return {"key": p.key, "name": p.label, "long_usd": p.long_usd, "short_usd": p.short_usd}
