"""Fit the leverage-tier weights to realised liquidations: pure numpy, arrays in, a result out.

A recorded liquidation at price ``p`` implies a leverage: a long opened at the trailing high ``H`` of
the lookback before it is liquidated at ``H × (1 − 1/L) / (1 − m)``, so ``L = 1 / (1 − p (1 − m) / H)``
(a short from the trailing low likewise). The extreme is the entry that needs the least leverage to
end there, so the implied leverage is a floor. Liquidations over-sample high leverage: a 100x
position is liquidated by a 1 % move, a 5x one needs 20 %, which price rarely travels. So each event
is weighted by one over the chance that a driftless walk with the asset's recent volatility travels
its tier's liquidation distance within the lookback (*reach-probability de-biasing*, floored so one
far event cannot dominate): the weighted USD per tier estimates the resting mix.

The fit is regularised towards the current weights: ``(1 − λ) × current + λ × estimate``, λ chosen on
the earlier half of the events in time and scored on the later half by the reach-weighted
log-likelihood of their tiers. The fit is adopted only when its held-out score beats the current
weights by ``margin`` nats per event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from heatmaps.engine.inputs import BASE_BAR_MS, FloatArray, IntArray, ModelParams

DAY_MS = 86_400_000
LOOKBACK_MS = 3 * DAY_MS
MIN_EVENTS = 200  # fewer recorded liquidations than this cannot say which tier they came from
REACH_FLOOR = 0.02  # an event's weight is at most 1 / REACH_FLOOR
ADOPT_MARGIN = 0.01  # nats per held-out event
LAMBDAS = np.linspace(0.0, 1.0, 11)


@dataclass(frozen=True, slots=True)
class TierFit:
    leverages: tuple[float, ...]
    current: tuple[float, ...]
    liquidated_mix: tuple[float, ...]  # USD share per tier as liquidated (no de-biasing)
    resting_mix: tuple[float, ...]  # de-biased, from the earlier half
    fitted: tuple[float, ...]  # (1 − λ) current + λ resting mix
    shrink: float  # λ
    held_out_current: float  # mean reach-weighted log-likelihood per held-out event, current weights
    held_out_fitted: float
    adopt: bool
    events: int  # events with an implied leverage (the rest lay beyond the trailing extreme)
    skipped: int
    fit_events: int
    scored_events: int


def implied_leverage(
    *, price: FloatArray, long: np.ndarray, high: FloatArray, low: FloatArray, mmr: float
) -> FloatArray:
    """Per event, the leverage of a position opened at the trailing extreme (NaN where the price
    lies beyond it: no leverage ends there)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(long, 1 - price * (1 - mmr) / high, price * (1 + mmr) / low - 1)
        out = np.where(inv > 0, 1 / inv, np.nan)
    return np.asarray(out, dtype=np.float64)


def nearest_tier(leverage: FloatArray, leverages: tuple[float, ...]) -> IntArray:
    """Index of the tier nearest in log leverage."""
    levs = np.log(np.asarray(leverages))
    return np.asarray(np.abs(np.log(leverage)[:, None] - levs[None, :]).argmin(axis=1), dtype=np.int64)


def reach_probability(distance: FloatArray, spread: FloatArray) -> FloatArray:
    """2 Φ(−d / spread): the chance a driftless walk touches a level ``distance`` away (log) within
    the time whose standard deviation is ``spread``."""
    z = distance / spread
    return np.asarray([math.erfc(v / math.sqrt(2)) if math.isfinite(v) else 0.0 for v in z.tolist()])


def calibrate_tiers(
    *,
    time_ms: IntArray,
    price: FloatArray,
    long: np.ndarray,
    usd: FloatArray,
    bar_open_time: IntArray,
    bar_high: FloatArray,
    bar_low: FloatArray,
    bar_close: FloatArray,
    params: ModelParams,
    lookback_ms: int = LOOKBACK_MS,
    margin: float = ADOPT_MARGIN,
) -> TierFit | None:
    """The tier weights fitted to recorded liquidations (oldest first), or None with fewer than
    ``MIN_EVENTS`` events that imply a leverage."""
    levs = params.leverages
    current = np.array([w for _, w in params.tiers])
    # Trailing extreme and volatility over the lookback before each event, from 5-minute bars.
    hi_idx = np.searchsorted(bar_open_time, time_ms - BASE_BAR_MS, side="right")  # bars closed by the event
    lo_idx = np.searchsorted(bar_open_time, time_ms - lookback_ms, side="left")
    has = hi_idx > lo_idx + 12
    high = np.full(time_ms.shape[0], np.nan)
    low = np.full(time_ms.shape[0], np.nan)
    for k in np.flatnonzero(has).tolist():  # events are few (thousands); a loop keeps it plain
        high[k] = bar_high[lo_idx[k] : hi_idx[k]].max()
        low[k] = bar_low[lo_idx[k] : hi_idx[k]].min()
    r = np.diff(np.log(bar_close))
    c1 = np.concatenate(([0.0], np.cumsum(r)))
    c2 = np.concatenate(([0.0], np.cumsum(r * r)))
    a, b = lo_idx, np.maximum(hi_idx - 1, lo_idx)
    count = np.maximum(b - a, 1).astype(np.float64)
    var = np.maximum((c2[b] - c2[a]) / count - ((c1[b] - c1[a]) / count) ** 2, 0.0)
    spread = np.sqrt(var * (lookback_ms / BASE_BAR_MS))
    lev = implied_leverage(price=price, long=long, high=high, low=low, mmr=params.mmr)
    ok = has & np.isfinite(lev) & (spread > 0) & (usd > 0)
    if int(ok.sum()) < MIN_EVENTS:
        return None
    tier = nearest_tier(lev[ok], levs)
    tier_distance = np.asarray([_liquidation_distance(lv, params.mmr) for lv in levs])
    reach = np.maximum(reach_probability(tier_distance[tier], spread[ok]), REACH_FLOOR)
    weight = usd[ok] / reach
    n = tier.shape[0]
    half = n // 2
    liquidated = _mix(tier, usd[ok], len(levs))
    resting = _mix(tier[:half], weight[:half], len(levs))

    def score(mix: FloatArray) -> float:
        w = weight[half:] / weight[half:].sum()
        return float((w * np.log(np.maximum(mix[tier[half:]], 1e-9))).sum())

    candidates = [(score((1 - lam) * current + lam * resting), float(lam)) for lam in LAMBDAS]
    best_score, best_lam = max(candidates)
    fitted = (1 - best_lam) * current + best_lam * resting
    held_current = score(current)
    return TierFit(
        leverages=levs,
        current=tuple(float(v) for v in current),
        liquidated_mix=tuple(float(v) for v in liquidated),
        resting_mix=tuple(float(v) for v in resting),
        fitted=tuple(float(v) for v in fitted),
        shrink=best_lam,
        held_out_current=held_current,
        held_out_fitted=best_score,
        adopt=best_score - held_current > margin,
        events=n,
        skipped=int(time_ms.shape[0] - n),
        fit_events=half,
        scored_events=n - half,
    )


def _liquidation_distance(leverage: float, mmr: float) -> float:
    """Log distance from entry to a long's liquidation price at ``leverage`` (shorts are within a few
    per cent of the same)."""
    return -math.log((1 - 1 / leverage) / (1 - mmr))


def _mix(tier: IntArray, weight: FloatArray, k: int) -> FloatArray:
    total = np.bincount(tier, weights=weight, minlength=k)
    return np.asarray(total / total.sum(), dtype=np.float64)
