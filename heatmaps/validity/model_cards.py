"""Model cards: an asset's parameters fitted to its recorded liquidations, stored per run and versioned.

``model_card_fit`` runs the calibration (``calibration_run``: tier weights and half-lives, time-split)
and stores its result as the asset's next card. The card is adopted when its held-out score (tier
and age log-likelihoods summed, nats per event) beats the prior parameters' on the same events by
``ADOPT_MARGIN``; every card is kept, and the newest adopted one is the asset's current card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from heatmaps.engine import calibration
from heatmaps.maps import newest_bar_time
from heatmaps.marketdata import ms_to_dt
from heatmaps.models import Asset, Liquidation, ModelCard, OpenInterest
from heatmaps.validity.calibration import CALIBRATION_DAYS, calibration_run, calibration_words

ADOPT_MARGIN = calibration.ADOPT_MARGIN  # nats per held-out event, tier and age scores summed
SAMPLED_FEEDS = {"binance": "Binance publishes at most one liquidation per symbol per second: its feed is sampled"}
METHOD = (
    "Each recorded liquidation implies the leverage of a position opened at the trailing three-day extreme; "
    "events are weighted by one over the chance that price reached their tier (reach-probability de-biasing); "
    "the weights are shrunk towards the prior and the half-lives searched around it, fitted on the earlier half "
    "of the events in time and scored on the later half."
)


def model_card_fit(*, asset: Asset, days: int = CALIBRATION_DAYS) -> ModelCard:
    """Fit ``asset``'s parameters to its recorded liquidations and store the result as its next card.
    Raises ValueError with the reason in words when refused (simulated open interest, too few
    recorded liquidations, no history): nothing is stored then."""
    return model_card_store(asset=asset, report=calibration_run(asset=asset, days=days))


def model_card_store(*, asset: Asset, report: dict[str, Any], margin: float = ADOPT_MARGIN) -> ModelCard:
    """Store a calibration report as ``asset``'s next card version."""
    fit, ages = report["fit"], report["half_lives"]
    levs = fit["leverages"]

    def params(weights: list[float], hours: list[float]) -> dict[str, Any]:
        tiers = [
            {"leverage": lev, "weight": round(w, 6), "half_life_hours": round(h, 2)}
            for lev, w, h in zip(levs, weights, hours, strict=True)
        ]
        return {"tiers": tiers, "mmr": report["mmr"]}

    fitted = fit["held_out_fitted"] + ages["held_out_fitted"]
    prior = fit["held_out_current"] + ages["held_out_prior"]
    with transaction.atomic():
        # One writer per asset at a time, so two runs cannot take the same version.
        Asset.objects.select_for_update().filter(pk=asset.pk).first()
        newest = ModelCard.objects.filter(asset=asset).aggregate(v=Max("version"))["v"] or 0
        return ModelCard.objects.create(
            asset=asset,
            version=newest + 1,
            created_at=ms_to_dt(report["computed_at_ms"]),
            params=params(fit["fitted"], ages["fitted_hours"]),
            prior_params=params(fit["current"], ages["prior_hours"]),
            held_out_score=fitted,
            current_held_out_score=prior,
            margin=margin,
            adopted=fitted - prior > margin,
            data_start=ms_to_dt(report["data"]["start_ms"]),
            data_end=ms_to_dt(report["data"]["end_ms"]),
            liquidations=report["liquidation_feeds"],
            notes=[METHOD, *calibration_words(report)],
            report=report,
        )


def current_model_card(*, asset: Asset) -> ModelCard | None:
    """The newest adopted card of ``asset``."""
    return ModelCard.objects.filter(asset=asset, adopted=True).order_by("-version").first()


def model_card_versions(*, asset: Asset) -> list[ModelCard]:
    """Every card of ``asset``, newest first."""
    return list(ModelCard.objects.filter(asset=asset).order_by("-version"))


@dataclass(frozen=True)
class NoCard:
    """Why an asset has no card: ``reason`` is "simulated_oi", "too_few_liquidations" or "not_fitted"."""

    reason: str
    message: str
    liquidations: int
    needed: int = calibration.MIN_EVENTS


def why_no_card(*, asset: Asset, days: int = CALIBRATION_DAYS) -> NoCard:
    """What ``calibrate_model`` would refuse ``asset`` for today, or that it has not been run."""
    # The same year the calibration reads: up to the newest stored bar (history imported from files
    # may end long before today).
    since = (newest_bar_time(asset=asset) or timezone.now()) - timedelta(days=days)
    count = Liquidation.objects.filter(asset=asset, time__gte=since).count()
    need = calibration.MIN_EVENTS
    if OpenInterest.objects.filter(asset=asset, simulated=True).exists():
        return NoCard(
            "simulated_oi",
            f"its open interest is simulated: a card fitted beside a synthetic series would describe that series, "
            f"not the market ({count} of {need} recorded liquidations in the last {days} days).",
            count,
        )
    if count < need:
        return NoCard(
            "too_few_liquidations",
            f"too few recorded liquidations: {count} of {need} in the last {days} days.",
            count,
        )
    return NoCard(
        "not_fitted", f"not fitted yet: {count} recorded liquidations are ready (run calibrate_model).", count
    )
