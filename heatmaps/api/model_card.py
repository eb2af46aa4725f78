"""``GET /api/v1/assets/<SYMBOL>/model-card/``: the asset's model card (parameters fitted to its
recorded liquidations) and every version; 404 while it has none (heatmaps/validity/model_cards.py)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from heatmaps.models import ModelCard
from heatmaps.serializers import ERROR_RESPONSES, api_asset
from heatmaps.validity.model_cards import SAMPLED_FEEDS, current_model_card, model_card_versions, why_no_card


class TierOut(serializers.Serializer):
    leverage = serializers.FloatField()
    weight = serializers.FloatField(help_text="share of the open interest placed at this tier, 0–1")
    half_life_hours = serializers.FloatField(help_text="hours after which half of the tier's positions remain")


class ParamsOut(serializers.Serializer):
    tiers = TierOut(many=True)
    mmr = serializers.FloatField(help_text="maintenance margin rate, fraction")


class CardOut(serializers.Serializer):
    version = serializers.IntegerField(help_text="1, 2, … per asset, in the order fitted")
    created_at = serializers.DateTimeField(help_text="UTC")
    adopted = serializers.BooleanField(help_text="its held-out score beat the prior parameters' by the margin")
    params = ParamsOut(help_text="as fitted")
    prior_params = ParamsOut(help_text="the parameters the fit started from and was scored against")
    held_out_score = serializers.FloatField(help_text="mean log-likelihood per held-out event, nats (higher is better)")
    current_held_out_score = serializers.FloatField(help_text="the prior parameters on the same events, nats")
    margin = serializers.FloatField(help_text="nats per held-out event the fit had to gain to be adopted")
    data_start = serializers.DateTimeField(help_text="first base bar read, UTC")
    data_end = serializers.DateTimeField(help_text="newest base bar read, UTC")
    liquidations = serializers.DictField(
        child=serializers.IntegerField(), help_text="recorded liquidations used, per exchange code"
    )
    notes = serializers.ListField(child=serializers.CharField(), help_text="the method and the fit in sentences")


class ModelCardOut(serializers.Serializer):
    symbol = serializers.CharField()
    current = CardOut(help_text="the newest adopted card")
    versions = CardOut(many=True, help_text="every card, newest first (the current one included)")
    feed_caveat = serializers.CharField(help_text="what the liquidation feeds' numbers mean")


def card_json(card: ModelCard) -> dict[str, Any]:
    return {
        "version": card.version,
        "created_at": card.created_at,
        "adopted": card.adopted,
        "params": card.params,
        "prior_params": card.prior_params,
        "held_out_score": card.held_out_score,
        "current_held_out_score": card.current_held_out_score,
        "margin": card.margin,
        "data_start": card.data_start,
        "data_end": card.data_end,
        "liquidations": card.liquidations,
        "notes": card.notes,
    }


@extend_schema(
    operation_id="assets_model_card_retrieve",
    tags=["market"],
    summary="The asset's model card: parameters fitted to its recorded liquidations, and every version",
    parameters=[OpenApiParameter("symbol", OpenApiTypes.STR, OpenApiParameter.PATH, description="e.g. BTCUSDT")],
    responses={200: ModelCardOut, **ERROR_RESPONSES},
)
@api_view(["GET"])
def model_card(request: Request, symbol: str) -> HttpResponseBase:
    asset = api_asset(symbol)
    current = current_model_card(asset=asset)
    if current is None:
        raise NotFound(f"{asset.symbol} has no model card: {why_no_card(asset=asset).message}")
    body = {
        "symbol": asset.symbol,
        "current": card_json(current),
        "versions": [card_json(c) for c in model_card_versions(asset=asset)],
        "feed_caveat": f"{SAMPLED_FEEDS['binance']}; Bybit's and OKX's feeds carry the volumes.",
    }
    return Response(ModelCardOut(body).data)
