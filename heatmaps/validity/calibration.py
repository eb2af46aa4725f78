"""Tier weights fitted to an asset's recorded liquidations: load → heatmaps/engine/calibration.py → words."""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Any

import numpy as np
from django.utils import timezone

from heatmaps import engine
from heatmaps.engine import calibration
from heatmaps.maps import asset_params, default_v2_params, load_base_bars, newest_bar_time
from heatmaps.marketdata import dt_to_ms, ms_to_dt
from heatmaps.models import Asset, Liquidation

CALIBRATION_DAYS = 365


def calibration_run(
    *, asset: Asset, days: int = CALIBRATION_DAYS, half_lives: tuple[float, ...] | None = None
) -> dict[str, Any]:
    """Fit the tier weights and half-lives of ``asset`` to its recorded liquidations over the last
    ``days`` (heatmaps/engine/calibration.py); ``half_lives`` are the prior hours per tier (default:
    model v2's). Raises ValueError, with the reason in words, when the fit is refused: no history,
    simulated open interest, or too few recorded liquidations."""
    started = time.perf_counter()
    newest = newest_bar_time(asset=asset)
    if newest is None:
        raise ValueError(f"{asset.symbol}: no stored candles")
    since = newest - timedelta(days=days)
    loaded = load_base_bars(asset=asset, since=since)
    if loaded is None:
        raise ValueError(f"{asset.symbol}: no stored candles")
    if loaded.oi_simulated:
        raise ValueError(
            f"{asset.symbol}: refused — its open interest is simulated; a model card fitted beside a synthetic "
            "series would describe that series, not the market. Import real open interest first (docs/model.md)."
        )
    bars = loaded.bars
    start, end = ms_to_dt(int(bars.open_time[0])), ms_to_dt(int(bars.open_time[-1]) + engine.BASE_BAR_MS)
    rows = list(
        Liquidation.objects.filter(asset=asset, time__gte=start, time__lt=end)
        .order_by("time")
        .values_list("time", "side", "price", "value", "exchange__code")
    )
    feeds: dict[str, int] = {}
    for row in rows:
        feeds[row[4]] = feeds.get(row[4], 0) + 1
    if len(rows) < calibration.MIN_EVENTS:
        raise ValueError(
            f"{asset.symbol}: refused — {len(rows)} recorded liquidations in the last {days} days; at least "
            f"{calibration.MIN_EVENTS} are needed (run stream_liquidations to record them)."
        )
    params = asset_params(asset)
    priors = half_lives or _v2_half_lives(asset, params.leverages)
    fit = calibration.calibrate_tiers(
        time_ms=np.array([dt_to_ms(r[0]) for r in rows], dtype=np.int64),
        price=np.array([r[2] for r in rows], dtype=np.float64),
        long=np.array([r[1] == Liquidation.Side.LONG for r in rows]),
        usd=np.array([r[3] for r in rows], dtype=np.float64),
        bar_open_time=bars.open_time,
        bar_high=bars.high,
        bar_low=bars.low,
        bar_close=bars.close,
        params=params,
        half_lives=priors,
    )
    if fit is None or fit.half_lives is None:
        raise ValueError(
            f"{asset.symbol}: refused — fewer than {calibration.MIN_EVENTS} recorded liquidations imply a leverage "
            "(the rest lay beyond the trailing extreme or had no history before them)."
        )
    ages = fit.half_lives
    return {
        "asset": asset.symbol,
        "mmr": params.mmr,
        "computed_at_ms": dt_to_ms(timezone.now()),
        "compute_ms": round((time.perf_counter() - started) * 1000, 1),
        "data": {"start_ms": int(bars.open_time[0]), "end_ms": int(bars.open_time[-1]), "bars": len(bars)},
        "liquidation_feeds": feeds,
        "fit": {
            "leverages": list(fit.leverages),
            "current": list(fit.current),
            "liquidated_mix": list(fit.liquidated_mix),
            "resting_mix": list(fit.resting_mix),
            "fitted": list(fit.fitted),
            "shrink": fit.shrink,
            "held_out_current": fit.held_out_current,
            "held_out_fitted": fit.held_out_fitted,
            "adopt": fit.adopt,
            "events": fit.events,
            "skipped": fit.skipped,
            "fit_events": fit.fit_events,
            "scored_events": fit.scored_events,
        },
        "half_lives": {
            "prior_hours": list(ages.prior_hours),
            "fitted_hours": list(ages.fitted_hours),
            "events": list(ages.events),
            "controls": list(ages.controls),
            "held_out_prior": ages.held_out_prior,
            "held_out_fitted": ages.held_out_fitted,
            "adopt": ages.adopt,
            "scored_events": ages.scored_events,
        },
    }


def _v2_half_lives(asset: Asset, leverages: tuple[float, ...]) -> tuple[float, ...]:
    """The asset's model-v2 half-life of each tier (hours); a tier v2 does not hold (or one that never
    decays) takes the calibration's prior for its leverage."""
    v2 = {t.leverage: t.half_life_hours for t in default_v2_params(asset).tiers}
    fallback = calibration.prior_half_lives(leverages)
    return tuple(v2[lev] if math.isfinite(v2.get(lev, math.inf)) else fallback[i] for i, lev in enumerate(leverages))


def calibration_words(report: dict[str, Any]) -> list[str]:
    fit = report["fit"]
    feeds = ", ".join(f"{code} {n}" for code, n in sorted(report["liquidation_feeds"].items()))
    tiers = lambda mix: ", ".join(f"{lev:g}x {w * 100:.0f} %" for lev, w in zip(fit["leverages"], mix, strict=True))  # noqa: E731
    out = [
        f"{report['asset']}: {fit['events']} recorded liquidations imply a leverage ({fit['skipped']} did not); feeds: "
        f"{feeds}. Binance publishes at most one liquidation per symbol per second, so its feed is sampled and "
        "Bybit's and OKX's carry the volumes.",
        f"As liquidated: {tiers(fit['liquidated_mix'])}.",
        f"At rest, de-biased by the chance of price reaching each tier (earlier {fit['fit_events']} events): "
        f"{tiers(fit['resting_mix'])}.",
        f"Current weights: {tiers(fit['current'])}; fitted ({fit['shrink']:.1f} of the way to the estimate): "
        f"{tiers(fit['fitted'])}.",
        f"Held-out score over the later {fit['scored_events']} events (mean log-likelihood per event, higher is "
        f"better): current {fit['held_out_current']:.3f}, fitted {fit['held_out_fitted']:.3f} — "
        + (
            "adopt the fit (it beats the current weights by more than 0.01)."
            if fit["adopt"]
            else "keep the current weights."
        ),
    ]
    ages = report.get("half_lives")
    if ages:
        hours = lambda values: ", ".join(  # noqa: E731
            f"{lev:g}x {h:.0f} h" for lev, h in zip(fit["leverages"], values, strict=True)
        )
        out += [
            f"Half-lives from the ages of the liquidated levels (time from the trailing extreme to the event) against "
            f"the ages the price path made possible: prior {hours(ages['prior_hours'])}; fitted "
            f"{hours(ages['fitted_hours'])}.",
            f"Held-out age score (nats per event): prior {ages['held_out_prior']:.4f}, fitted "
            f"{ages['held_out_fitted']:.4f}.",
        ]
    return out
