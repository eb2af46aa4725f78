"""``GET /api/v1/assets/<SYMBOL>/heatmap/compare/``: two maps of one asset and timeframe (filters of
the same run: leverage tiers or bands, exchanges) on one absolute USD scale, their difference A − B
and the clusters one draws where the other has none (heatmaps/engine/compare.py)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from django.http import HttpResponseBase, QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from heatmaps import exports
from heatmaps.engine import TIMEFRAMES
from heatmaps.engine.compare import compare_maps
from heatmaps.explorer import FilterError, MapFilter, filtered_map, resolve_filter
from heatmaps.maps import StoredMap, read_heatmap
from heatmaps.models import Asset
from heatmaps.serializers import BAD_REQUEST, ERROR_RESPONSES, SIDES

SYMBOL = re.compile(r"^[A-Za-z0-9]{2,32}$")
_FILTER_KEYS = {"tiers", "lev", "exchange"}


class CompareQuery(serializers.Serializer):
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES), default="24h", help_text="The maps' window.")
    side = serializers.ChoiceField(choices=SIDES, default="both", help_text="Longs, shorts, or both.")
    a = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=300,
        help_text="Map A's filter as a query string (tiers=, lev=, exchange=), e.g. lev=high; empty: the whole map.",
    )
    b = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=300,
        help_text="Map B's filter, the same way, e.g. lev=low.",
    )
    min_usd = serializers.FloatField(default=0.0, min_value=0.0, help_text="Cells (and |A − B|) above this USD.")


class CompareMapOut(serializers.Serializer):
    filter = serializers.CharField(help_text="the filter as given")
    total_usd = serializers.FloatField(help_text="USD at the last column")
    cells = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()), help_text="[time_index, price_index, usd]"
    )


class CompareOut(serializers.Serializer):
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    side = serializers.CharField()
    times = serializers.ListField(child=serializers.IntegerField(), help_text="column start, ms since epoch, UTC")
    prices = serializers.ListField(child=serializers.FloatField(), help_text="bin centres")
    full_usd = serializers.FloatField(help_text="one absolute scale for both maps (99th percentile of either's cells)")
    diff_full_usd = serializers.FloatField(help_text="the ends of the diverging palette (99th percentile of |A − B|)")
    a = CompareMapOut()
    b = CompareMapOut()
    diff = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()),
        help_text="[time_index, price_index, A − B USD] where |A − B| is above min_usd",
    )
    only_a = serializers.ListField(child=serializers.DictField(), help_text="A's clusters that B does not draw")
    only_b = serializers.ListField(child=serializers.DictField(), help_text="B's clusters that A does not draw")


def _filter(asset: Asset, name: str, text: str) -> MapFilter:
    parts = QueryDict(text)
    unknown = sorted(set(parts) - _FILTER_KEYS)
    if unknown:
        raise ValidationError({name: [f"{unknown[0][:20]!r} is not a filter here; use tiers, lev or exchange."]})
    try:
        return resolve_filter(
            asset=asset,
            tiers=parts.get("tiers"),
            lev=parts.get("lev"),
            exchange=",".join(parts.getlist("exchange")) or None,
        )
    except FilterError as exc:
        raise ValidationError({name: [f"{exc.param}: {exc.message}"]}) from None


def _grid(stored: StoredMap, side: str) -> np.ndarray:
    if side == "long":
        return stored.long.astype(np.float64)
    if side == "short":
        return stored.short.astype(np.float64)
    return stored.long.astype(np.float64) + stored.short


@extend_schema(
    operation_id="assets_heatmap_compare",
    tags=["market"],
    summary="Two filtered maps of one run on one USD scale, their difference and the clusters only one draws",
    parameters=[
        OpenApiParameter("symbol", OpenApiTypes.STR, OpenApiParameter.PATH, description="e.g. BTCUSDT"),
        CompareQuery,
    ],
    responses={200: CompareOut, **BAD_REQUEST, **ERROR_RESPONSES},
)
@api_view(["GET"])
def heatmap_compare(request: Request, symbol: str) -> HttpResponseBase:
    asset = None
    if SYMBOL.match(symbol):
        asset = Asset.objects.filter(symbol=symbol.upper(), enabled=True).first()
    if asset is None:
        raise NotFound(f"unknown asset {symbol[:40]!r}")
    query = CompareQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    q = query.validated_data
    filters = {name: _filter(asset, name, q.get(name) or "") for name in ("a", "b")}
    stored = read_heatmap(asset=asset, timeframe=q["timeframe"])
    if stored is None:
        raise NotFound(f"the {q['timeframe']} map of {asset.symbol} has not been computed yet")
    maps: dict[str, StoredMap] = {}
    for name, filt in filters.items():
        shown = filtered_map(asset=asset, stored=stored, filt=filt)
        assert shown is not None  # no moment: the stored run always has data
        maps[name] = shown
    grids = {name: _grid(m, q["side"]) for name, m in maps.items()}
    sided = {name: [c for c in m.heatmap.clusters if q["side"] in ("both", c["side"])] for name, m in maps.items()}
    result = compare_maps(a=grids["a"], b=grids["b"], a_clusters=sided["a"], b_clusters=sided["b"])
    min_usd = q["min_usd"]

    rows, cols = np.nonzero(np.abs(result.diff) > max(min_usd, 0.5))
    body: dict[str, Any] = {
        "symbol": asset.symbol,
        "timeframe": q["timeframe"],
        "side": q["side"],
        "times": stored.times.tolist(),
        "prices": stored.prices.tolist(),
        "full_usd": result.full_usd,
        "diff_full_usd": result.diff_full_usd,
        **{
            name: {
                "filter": q.get(name) or "",
                "total_usd": float(grids[name][-1].sum()),
                "cells": exports.sparse_cells(grids[name], min_usd=min_usd),
            }
            for name in ("a", "b")
        },
        "diff": [[int(i), int(j), round(float(result.diff[i, j]))] for i, j in zip(rows, cols, strict=True)],
        "only_a": result.only_a,
        "only_b": result.only_b,
    }
    return Response(body)
