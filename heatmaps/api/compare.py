"""``GET /api/v1/assets/<SYMBOL>/heatmap/compare/``: two maps of one asset and timeframe (filters of
the same run: leverage tiers or bands, exchanges; and models: v1, v2, custom parameters, a user's own)
on one absolute USD scale, their difference A − B and the clusters one draws where the other has none
(heatmaps/engine/compare.py). Every side is drawn from the bars of the stored v1 map's run, so a v2
side lines up with a v1 side cell for cell.

A side with ``at=`` is the map as of that moment: the answer's ``mode`` is then "moments", and what is
compared is the liquidation levels standing at each moment (each map's newest column) on one price axis
spanning both (heatmaps/moment_compare.py), since two moments' cells do not line up."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.http import HttpResponse, HttpResponseBase, QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from heatmaps import exports
from heatmaps.engine import TIMEFRAMES
from heatmaps.explorer import FilterError, MapFilter, compare_filters, resolve_filter
from heatmaps.maps import read_heatmap
from heatmaps.model_choice import CUSTOM_KEYS, ModelChoice, custom_text, resolve_model
from heatmaps.models import Asset
from heatmaps.moment_compare import ComparedMoments, compare_moments_of
from heatmaps.serializers import BAD_REQUEST, ERROR_RESPONSES, PNG_HEIGHT, PNG_WIDTH, SIDES, UtcInstantField, api_asset

_FILTER_KEYS = {"tiers", "lev", "exchange", "model", "at", *CUSTOM_KEYS}


class CompareQuery(serializers.Serializer):
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES), default="24h", help_text="The maps' window.")
    side = serializers.ChoiceField(choices=SIDES, default="both", help_text="Longs, shorts, or both.")
    a = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=600,
        help_text="Map A's filter and model as a query string (tiers=, lev=, exchange=, model=, mp=, mmr=, maxlev=, "
        "at= as on the map), e.g. lev=high or model=v2; empty: model v1's whole map. With at= on either side (a UTC "
        "time, e.g. at=2026-01-29T14:00Z) the two moments' standing levels are compared (mode moments).",
    )
    b = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=600,
        help_text="Map B's filter and model, the same way, e.g. lev=low, model=v1 or at=2026-01-29T14:00Z.",
    )
    min_usd = serializers.FloatField(default=0.0, min_value=0.0, help_text="Cells (and |A − B|) above this USD.")
    format = serializers.ChoiceField(
        choices=["json", "png"],
        default="json",
        help_text="json, or png: A − B in a diverging palette (moments: a diverging bar per price bin).",
    )
    width = serializers.IntegerField(min_value=PNG_WIDTH[0], max_value=PNG_WIDTH[1], default=PNG_WIDTH[2])
    height = serializers.IntegerField(min_value=PNG_HEIGHT[0], max_value=PNG_HEIGHT[1], default=PNG_HEIGHT[2])
    full = serializers.FloatField(
        required=False, min_value=0.01, help_text="png: USD of difference at full colour (default diff_full_usd)."
    )


class CompareMapOut(serializers.Serializer):
    filter = serializers.CharField(help_text="the filter as given")
    model = serializers.CharField(help_text="the model the side is drawn with: v1, v2, custom:<hash>, mine:<id>")
    model_label = serializers.CharField(help_text="the model in words")
    total_usd = serializers.FloatField(help_text="USD at the last column")
    cells = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()), help_text="[time_index, price_index, usd]"
    )


class CompareOut(serializers.Serializer):
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    side = serializers.CharField()
    mode = serializers.ChoiceField(choices=["cells"], help_text="cells: one moment, compared cell for cell")
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


class MomentSideOut(serializers.Serializer):
    filter = serializers.CharField(help_text="the filter as given")
    model = serializers.CharField(help_text="the model the side is drawn with: v1, v2, custom:<hash>, mine:<id>")
    model_label = serializers.CharField(help_text="the model in words")
    moment = serializers.DateTimeField(help_text="the side's moment, UTC: its at=, or the newest base bar (now)")
    end_time = serializers.IntegerField(help_text="start of the map's newest column (the levels compared), UTC ms")
    long_usd = serializers.ListField(
        child=serializers.FloatField(), help_text="USD of longs per price bin at the moment, on the common axis"
    )
    short_usd = serializers.ListField(child=serializers.FloatField(), help_text="USD of shorts per price bin")
    total_usd = serializers.FloatField(help_text="USD standing at the moment, both sides")


class CompareMomentsOut(serializers.Serializer):
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    side = serializers.CharField(help_text="the side whose clusters are compared")
    mode = serializers.ChoiceField(choices=["moments"], help_text="moments: a side has at=")
    price_edges = serializers.ListField(
        child=serializers.FloatField(), help_text="the common price axis spanning both maps: bins + 1 edges"
    )
    full_usd = serializers.FloatField(help_text="one absolute scale for both profiles (the largest bin of either)")
    diff_full_usd = serializers.FloatField(help_text="the largest |A − B| of a bin")
    a = MomentSideOut()
    b = MomentSideOut()
    diff_long = serializers.ListField(child=serializers.FloatField(), help_text="A − B USD of longs per price bin")
    diff_short = serializers.ListField(child=serializers.FloatField(), help_text="A − B USD of shorts per price bin")
    earlier = serializers.ChoiceField(choices=["a", "b"], help_text="the side whose moment comes first")
    only_a = serializers.ListField(child=serializers.DictField(), help_text="A's clusters that B does not have")
    only_b = serializers.ListField(child=serializers.DictField(), help_text="B's clusters that A does not have")
    removed = serializers.ListField(
        child=serializers.DictField(), help_text="clusters standing at the earlier moment and gone at the later"
    )
    added = serializers.ListField(
        child=serializers.DictField(), help_text="clusters standing at the later moment, not at the earlier"
    )


def _filter(asset: Asset, name: str, text: str, user: Any = None) -> tuple[MapFilter, ModelChoice]:
    """One side's filter and model; a 400 naming the side and, in its message, the parameter."""
    parts = QueryDict(text)
    unknown = sorted(set(parts) - _FILTER_KEYS)
    if unknown:
        raise ValidationError(
            {
                name: [
                    f"{unknown[0][:20]!r} is not a filter here; use tiers, lev, exchange, model, mp, mmr, maxlev or at."
                ]
            }
        )
    at = None
    if (raw_at := (parts.get("at") or "").strip()) or "at" in parts:
        try:
            at = UtcInstantField().to_internal_value(raw_at)
        except ValidationError as exc:
            detail = exc.detail[0] if isinstance(exc.detail, list) else exc.detail
            raise ValidationError({name: [f"at: {detail}"]}) from None
    try:
        choice = resolve_model(
            asset=asset,
            model=parts.get("model"),
            custom_params_text=custom_text(parts),
            user=user,
        )
        filt = resolve_filter(
            asset=asset,
            tiers=parts.get("tiers"),
            lev=parts.get("lev"),
            exchange=",".join(parts.getlist("exchange")) or None,
            at=at,
            model_params=choice.params,
        )
    except FilterError as exc:
        raise ValidationError({name: [f"{exc.param}: {exc.message}"]}) from None
    return filt, choice


@extend_schema(
    operation_id="assets_heatmap_compare",
    tags=["market"],
    summary="Two filtered maps of one run on one USD scale, their difference and the clusters only one draws",
    parameters=[
        OpenApiParameter("symbol", OpenApiTypes.STR, OpenApiParameter.PATH, description="e.g. BTCUSDT"),
        CompareQuery,
    ],
    responses={
        (200, "application/json"): PolymorphicProxySerializer(
            component_name="CompareAnswer",
            serializers={"cells": CompareOut, "moments": CompareMomentsOut},
            resource_type_field_name="mode",
        ),
        (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="A − B, diverging palette"),
        **BAD_REQUEST,
        **ERROR_RESPONSES,
    },
)
@api_view(["GET"])
def heatmap_compare(request: Request, symbol: str) -> HttpResponseBase:
    asset = api_asset(symbol)
    query = CompareQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    q = query.validated_data
    sides = {name: _filter(asset, name, q.get(name) or "", request.user) for name in ("a", "b")}
    stored = read_heatmap(asset=asset, timeframe=q["timeframe"])
    if stored is None:
        raise NotFound(f"the {q['timeframe']} map of {asset.symbol} has not been computed yet")
    if sides["a"][0].at is not None or sides["b"][0].at is not None:
        try:
            moments = compare_moments_of(
                asset=asset,
                stored=stored,
                a=sides["a"][0],
                b=sides["b"][0],
                side=q["side"],
                a_params=sides["a"][1].params,
                b_params=sides["b"][1].params,
            )
        except FilterError as exc:
            raise ValidationError({exc.param: [exc.message]}) from None
        return _moments_answer(asset=asset, q=q, sides=sides, moments=moments)
    try:
        compared = compare_filters(
            asset=asset,
            stored=stored,
            a=sides["a"][0],
            b=sides["b"][0],
            side=q["side"],
            a_params=sides["a"][1].params,
            b_params=sides["b"][1].params,
        )
    except FilterError as exc:
        raise ValidationError({exc.param: [exc.message]}) from None
    result = compared.result
    if q["format"] == "png":
        m = stored.heatmap
        png = exports.render_diverging_png(
            diff=result.diff,
            full_usd=q.get("full") or result.diff_full_usd,
            candles=m.candles or [],
            price_lo=m.price_lo,
            price_hi=m.price_hi,
            width=q["width"],
            height=q["height"],
        )
        response = HttpResponse(png, content_type="image/png")
        response["Content-Disposition"] = f'inline; filename="{asset.symbol}-{q["timeframe"]}-compare.png"'
        return response
    min_usd = q["min_usd"]
    rows, cols = np.nonzero(np.abs(result.diff) > max(min_usd, 0.5))
    grids = {"a": compared.grid_a, "b": compared.grid_b}
    body: dict[str, Any] = {
        "symbol": asset.symbol,
        "timeframe": q["timeframe"],
        "side": q["side"],
        "mode": "cells",
        "times": stored.times.tolist(),
        "prices": stored.prices.tolist(),
        "full_usd": result.full_usd,
        "diff_full_usd": result.diff_full_usd,
        **{
            name: {
                "filter": q.get(name) or "",
                "model": sides[name][1].key,
                "model_label": sides[name][1].label,
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


def _moments_answer(
    *, asset: Asset, q: dict[str, Any], sides: dict[str, tuple[MapFilter, ModelChoice]], moments: ComparedMoments
) -> HttpResponseBase:
    r = moments.result
    kept = {"long": ("Longs", r.diff_long), "short": ("Shorts", r.diff_short)}
    if q["format"] == "png":
        words = {n: f"{n.upper()} {moments.of(n).moment:%Y-%m-%d %H:%M} UTC" for n in ("a", "b")}
        png = exports.render_profile_png(
            edges=r.edges,
            diffs=[kept[s] for s in ("long", "short") if q["side"] in ("both", s)],
            full_usd=q.get("full") or r.diff_full_usd,
            title=f"{asset.symbol} {q['timeframe']}: liquidation levels, A - B",
            subtitle=f"{words['a']} vs {words['b']}",
            width=q["width"],
            height=q["height"],
        )
        response = HttpResponse(png, content_type="image/png")
        response["Content-Disposition"] = f'inline; filename="{asset.symbol}-{q["timeframe"]}-compare-moments.png"'
        return response
    profiles = {"a": (r.a_long, r.a_short), "b": (r.b_long, r.b_short)}
    body: dict[str, Any] = {
        "symbol": asset.symbol,
        "timeframe": q["timeframe"],
        "side": q["side"],
        "mode": "moments",
        "price_edges": r.edges.tolist(),
        "full_usd": r.full_usd,
        "diff_full_usd": r.diff_full_usd,
        **{
            name: {
                "filter": q.get(name) or "",
                "model": sides[name][1].key,
                "model_label": sides[name][1].label,
                "moment": moments.of(name).moment.isoformat(),
                "end_time": moments.of(name).end_time_ms,
                "long_usd": _usd_list(profiles[name][0]),
                "short_usd": _usd_list(profiles[name][1]),
                "total_usd": float(profiles[name][0].sum() + profiles[name][1].sum()),
            }
            for name in ("a", "b")
        },
        "diff_long": _usd_list(r.diff_long),
        "diff_short": _usd_list(r.diff_short),
        "earlier": moments.earlier,
        "only_a": r.only_a,
        "only_b": r.only_b,
        "removed": moments.removed,
        "added": moments.added,
    }
    return Response(body)


def _usd_list(values: np.ndarray) -> list[float]:
    return np.round(values, 2).tolist()
