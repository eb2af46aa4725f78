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

Half-lives (``fit_half_lives``): a position opened at the trailing extreme was opened when that
extreme was made, so a liquidation also has an *age*, the time from the extreme to the event. With
resting positions that decay with half-life ``h``, an old level holds less than a fresh one and
liquidates less. Which ages were possible depends on the price path, so the events of a tier are
compared with the *controls* of that tier: every hour of the history at which price stood where
that tier's positions from the trailing extreme would be liquidated. Ages are binned by the hour;
the chance of an event's age bin is ``g(a) 2^(−a/h) / Σ g(b) 2^(−b/h)`` with ``g`` the controls'
age histogram. ``h`` is searched per tier on a grid of multiples of its prior on the earlier half,
maximising the log-likelihood plus a normal prior on ``ln h`` (one standard deviation a factor of
2); the later half scores the fitted half-lives against the priors. A 3-day lookback sees ages up
to 72 hours: half-lives well inside it are recovered closely, much longer ones only coarsely.
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
# An event's age says less than its tier (a tilt over at most 72 hours), so a smaller gain per event
# is a real one; a year of synthetic liquidations with half-lives a third of the priors gains 0.01.
ADOPT_MARGIN_HALF_LIVES = 0.002  # nats per held-out event
LAMBDAS = np.linspace(0.0, 1.0, 11)
# Half-lives per tier (hours) assumed when the model gives none: model v2's defaults (docs/model.md,
# "Model v2"), repeated so the fit needs nothing of the model's code.
PRIOR_HALF_LIVES_HOURS: dict[float, float] = {5.0: 720.0, 10.0: 240.0, 25.0: 64.0, 50.0: 24.0, 100.0: 8.0}
HALF_LIFE_MULTIPLES = 2.0 ** np.arange(-4.0, 4.0625, 0.125)  # 1/16 to 16 times the prior
PRIOR_SD = math.log(2.0)  # the prior on ln(half-life): normal, one standard deviation a factor of 2
MIN_TIER_EVENTS = 30  # fewer events of a tier in the earlier half than this keep its prior
AGE_BIN_MS = 3_600_000
CONTROL_EVERY = 1  # every 5-minute bar is a control


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
    half_lives: HalfLifeFit | None = None  # with ``half_lives`` priors given


@dataclass(frozen=True, slots=True)
class HalfLifeFit:
    leverages: tuple[float, ...]
    prior_hours: tuple[float, ...]
    fitted_hours: tuple[float, ...]
    events: tuple[int, ...]  # events per tier with an age (both halves)
    controls: tuple[int, ...]  # control hours per tier
    held_out_prior: float  # mean log-likelihood of the held-out events' age bins, prior half-lives
    held_out_fitted: float
    adopt: bool
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
    half_lives: tuple[float, ...] | None = None,
) -> TierFit | None:
    """The tier weights fitted to recorded liquidations (oldest first), or None with fewer than
    ``MIN_EVENTS`` events that imply a leverage. With ``half_lives`` (prior hours per tier), the
    half-lives are fitted too (``fit_half_lives``)."""
    levs = params.leverages
    current = np.array([w for _, w in params.tiers])
    # Trailing extreme and volatility over the lookback before each event, from 5-minute bars.
    hi_idx, lo_idx, has, high, low, high_at, low_at = _trailing_extremes(
        time_ms, bar_open_time=bar_open_time, bar_high=bar_high, bar_low=bar_low, lookback_ms=lookback_ms
    )
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
    ages = None
    if half_lives is not None:
        age = np.where(long, time_ms - high_at, time_ms - low_at)[ok]
        controls = _controls(
            bar_open_time=bar_open_time,
            bar_high=bar_high,
            bar_low=bar_low,
            bar_close=bar_close,
            params=params,
            lookback_ms=lookback_ms,
        )
        ages = fit_half_lives(
            tier=tier,
            age_ms=age,
            control_tier=controls[0],
            control_age_ms=controls[1],
            leverages=levs,
            prior_hours=half_lives,
            lookback_ms=lookback_ms,
        )
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
        half_lives=ages,
    )


def prior_half_lives(leverages: tuple[float, ...]) -> tuple[float, ...]:
    """``PRIOR_HALF_LIVES_HOURS`` for the given tiers (a tier not listed: the nearest listed one's)."""
    known = np.array(sorted(PRIOR_HALF_LIVES_HOURS))
    return tuple(
        PRIOR_HALF_LIVES_HOURS[float(known[np.abs(np.log(known) - math.log(lev)).argmin()])] for lev in leverages
    )


def fit_half_lives(
    *,
    tier: IntArray,
    age_ms: IntArray,
    control_tier: IntArray,
    control_age_ms: IntArray,
    leverages: tuple[float, ...],
    prior_hours: tuple[float, ...],
    lookback_ms: int = LOOKBACK_MS,
    margin: float = ADOPT_MARGIN_HALF_LIVES,
) -> HalfLifeFit:
    """Per tier, the half-life (hours) that best explains the ages of its events (oldest first)
    against the ages its controls make possible; see the module's docstring."""
    n_bins = -(-lookback_ms // AGE_BIN_MS)
    centre_h = (np.arange(n_bins) + 0.5) * AGE_BIN_MS / 3_600_000
    ev_bin = np.clip(age_ms // AGE_BIN_MS, 0, n_bins - 1).astype(np.int64)
    ct_bin = np.clip(control_age_ms // AGE_BIN_MS, 0, n_bins - 1).astype(np.int64)
    half = tier.shape[0] // 2
    fitted = list(prior_hours)
    held_prior = held_fitted = 0.0
    events, controls = [], []
    for k, prior in enumerate(prior_hours):
        g = np.bincount(ct_bin[control_tier == k], minlength=n_bins).astype(np.float64)
        controls.append(int(g.sum()))
        mine = tier == k
        events.append(int(mine.sum()))
        if g.sum() == 0:
            continue
        g = (g + 0.5) / (g.sum() + 0.5 * n_bins)  # no bin impossible: an event may fall where no control did
        early = np.bincount(ev_bin[:half][mine[:half]], minlength=n_bins).astype(np.float64)
        late = np.bincount(ev_bin[half:][mine[half:]], minlength=n_bins).astype(np.float64)

        def loglik(hours: float, counts: FloatArray, g: FloatArray = g) -> float:
            logp = np.log(g) - centre_h * math.log(2) / hours
            logp -= np.logaddexp.reduce(logp)
            return float((counts * logp).sum())

        if early.sum() >= MIN_TIER_EVENTS:
            penalised = [
                (loglik(prior * m, early) - 0.5 * (math.log(m) / PRIOR_SD) ** 2, float(m)) for m in HALF_LIFE_MULTIPLES
            ]
            fitted[k] = prior * max(penalised)[1]
        held_prior += loglik(prior, late)
        held_fitted += loglik(fitted[k], late)
    scored = int((tier[half:] >= 0).sum())
    mean_prior, mean_fitted = held_prior / max(scored, 1), held_fitted / max(scored, 1)
    return HalfLifeFit(
        leverages=leverages,
        prior_hours=tuple(float(h) for h in prior_hours),
        fitted_hours=tuple(float(h) for h in fitted),
        events=tuple(events),
        controls=tuple(controls),
        held_out_prior=mean_prior,
        held_out_fitted=mean_fitted,
        adopt=mean_fitted - mean_prior > margin,
        scored_events=scored,
    )


def _trailing_extremes(
    time_ms: IntArray, *, bar_open_time: IntArray, bar_high: FloatArray, bar_low: FloatArray, lookback_ms: int
) -> tuple[IntArray, IntArray, np.ndarray, FloatArray, FloatArray, IntArray, IntArray]:
    """Per moment, over the bars that closed by it within the lookback: the bar range, whether it
    holds enough bars (an hour), the highest high and lowest low and the close times of their bars."""
    hi_idx = np.searchsorted(bar_open_time, time_ms - BASE_BAR_MS, side="right")  # bars closed by the moment
    lo_idx = np.searchsorted(bar_open_time, time_ms - lookback_ms, side="left")
    has = hi_idx > lo_idx + 12
    n = time_ms.shape[0]
    high, low = np.full(n, np.nan), np.full(n, np.nan)
    high_at, low_at = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for k in np.flatnonzero(has).tolist():  # a loop keeps it plain; a year of events takes about a second
        a, b = int(lo_idx[k]), int(hi_idx[k])
        i, j = a + int(bar_high[a:b].argmax()), a + int(bar_low[a:b].argmin())
        high[k], low[k] = bar_high[i], bar_low[j]
        high_at[k], low_at[k] = bar_open_time[i] + BASE_BAR_MS, bar_open_time[j] + BASE_BAR_MS
    return hi_idx, lo_idx, has, high, low, high_at, low_at


def _controls(
    *,
    bar_open_time: IntArray,
    bar_high: FloatArray,
    bar_low: FloatArray,
    bar_close: FloatArray,
    params: ModelParams,
    lookback_ms: int,
) -> tuple[IntArray, IntArray]:
    """Tier and age of the hourly moments of the history, each read as a long liquidated at the close
    from the trailing high and a short from the trailing low: the ages the price path made possible."""
    pick = np.arange(0, bar_open_time.shape[0], CONTROL_EVERY)
    t = bar_open_time[pick] + BASE_BAR_MS
    _, _, has, high, low, high_at, low_at = _trailing_extremes(
        t, bar_open_time=bar_open_time, bar_high=bar_high, bar_low=bar_low, lookback_ms=lookback_ms
    )
    price = bar_close[pick]
    tiers, ages = [], []
    for long, at in ((True, high_at), (False, low_at)):
        side = np.full(t.shape[0], long)
        lev = implied_leverage(price=price, long=side, high=high, low=low, mmr=params.mmr)
        ok = has & np.isfinite(lev)
        tiers.append(nearest_tier(lev[ok], params.leverages))
        ages.append((t - at)[ok])
    return np.concatenate(tiers), np.concatenate(ages)


def _liquidation_distance(leverage: float, mmr: float) -> float:
    """Log distance from entry to a long's liquidation price at ``leverage`` (shorts are within a few
    per cent of the same)."""
    return -math.log((1 - 1 / leverage) / (1 - mmr))


def _mix(tier: IntArray, weight: FloatArray, k: int) -> FloatArray:
    total = np.bincount(tier, weights=weight, minlength=k)
    return np.asarray(total / total.sum(), dtype=np.float64)
