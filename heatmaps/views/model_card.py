"""/model/<SYMBOL>/: an asset's model card — its parameters fitted to recorded liquidations, and every
earlier version (heatmaps/validity/model_cards.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from heatmaps.models import Asset, ModelCard
from heatmaps.validity.model_cards import (
    SAMPLED_FEEDS,
    current_model_card,
    model_card_versions,
    why_no_card,
)
from heatmaps.views.common import exchange_name


@dataclass(frozen=True)
class TierRow:
    leverage: str
    weight: str
    prior_weight: str
    half_life: str
    prior_half_life: str


def tier_rows(card: ModelCard) -> list[TierRow]:
    """The card's tiers beside the prior's, as a reader says them."""
    rows = []
    for tier, prior in zip(card.params["tiers"], card.prior_params["tiers"], strict=True):
        rows.append(
            TierRow(
                leverage=f"{tier['leverage']:g}x",
                weight=f"{tier['weight'] * 100:.1f} %",
                prior_weight=f"{prior['weight'] * 100:.1f} %",
                half_life=f"{tier['half_life_hours']:.0f} h",
                prior_half_life=f"{prior['half_life_hours']:.0f} h",
            )
        )
    return rows


def card_context(card: ModelCard) -> dict[str, Any]:
    return {
        "card": card,
        "tiers": tier_rows(card),
        "gain": card.held_out_score - card.current_held_out_score,
        "feeds": [
            (exchange_name(code), n, SAMPLED_FEEDS.get(code, "")) for code, n in sorted(card.liquidations.items())
        ],
        "mmr_pct": card.params["mmr"] * 100,
    }


def model_card_page(request: HttpRequest, symbol: str) -> HttpResponse:
    """The current card (the newest adopted one), the newest run if it was not adopted, and every version."""
    asset = Asset.objects.filter(symbol=symbol.upper(), enabled=True).first()
    if asset is None:
        raise Http404(f"There is no enabled asset {symbol[:32]!r} here.")
    if asset.symbol != symbol:
        return HttpResponseRedirect(reverse("heatmaps:model-card", args=[asset.symbol]))
    current = current_model_card(asset=asset)
    versions = model_card_versions(asset=asset)
    newest = versions[0] if versions else None
    ctx = {
        "asset": asset,
        "current": card_context(current) if current else None,
        "newest": card_context(newest) if newest and newest != current else None,
        "versions": versions,
        "no_card": None if current else why_no_card(asset=asset),
        "sampled": SAMPLED_FEEDS["binance"],
    }
    return render(request, "heatmaps/model_card.html", ctx)
