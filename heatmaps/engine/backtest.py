"""Does the map's "magnet" work? A walk-forward backtest of its clusters, pure numpy over arrays.

At each step ``t`` (epoch-aligned, every ``every_ms``) the map is the one ``compute_heatmap`` would
draw from the base bars that closed by ``t``: the same buckets, window, warm-up and price grid.
Its largest cluster above the price and its largest below are then followed over the base bars
of the next ``horizon_ms``: which of the two peaks does price reach first, if either?

Why not one ``run_model`` over the whole history, read column by column: the map at ``t`` is
drawn on a grid spanning *its* window's low and high, and a position is swept when price trades
through the centre of its bin on that grid, so the state at ``t`` depends on the grid at ``t``;
one fixed grid would give other bins, other sweeps and other clusters, and a grid spanning the
whole history would also leak the future range into every step. What does not depend on the grid
is computed once for the whole history: the carried open interest and the buckets. Per step the
engine's own flow, placement and closed-form end state (``run_end_state``) give the last column
in one vectorised pass over the step's run (warm-up + window), so a step costs the same whatever
the length of the history, and the result equals ``compute_heatmap`` on data up to ``t``.

The baseline is distance alone: for a driftless random walk in log price the chance of reaching
the upper level first is ``d_below / (d_above + d_below)`` (log distances).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from heatmaps.engine.derived import find_clusters, liquidation_map
from heatmaps.engine.inputs import (
    BASE_BAR_MS,
    TIMEFRAMES,
    Buckets,
    FloatArray,
    IntArray,
    ModelParams,
    Timeframe,
    aggregate,
    carry_open_interest,
)
from heatmaps.engine.model import HeatmapGrid, price_edges
from heatmaps.engine.run import run_end_state

_HOUR = 3_600_000
_DAY = 24 * _HOUR

# Step and horizon per timeframe: about 30-40 steps per window, and a horizon of about a seventh
# of the window (a day for the 1w map), so a cluster has time to be reached but the map at t
# still describes the market over the horizon.
DEFAULT_STEPS: dict[str, tuple[int, int]] = {
    "12h": (_HOUR // 2, 2 * _HOUR),
    "24h": (_HOUR, 4 * _HOUR),
    "3d": (2 * _HOUR, 12 * _HOUR),
    "1w": (4 * _HOUR, _DAY),
    "2w": (8 * _HOUR, 2 * _DAY),
    "1m": (_DAY, 4 * _DAY),
    "3m": (3 * _DAY, 12 * _DAY),
    "6m": (6 * _DAY, 24 * _DAY),
    "1y": (12 * _DAY, 48 * _DAY),
}

MIN_FIT_STEPS = 20  # below this many resolved steps in a half, no logistic is fitted or scored
RELIABILITY_BINS = 10


@dataclass(frozen=True, slots=True)
class LiquidationEvents:
    """Recorded forced orders. ``long`` is True where a long was liquidated (price fell into it).

    ``start_ms``/``end_ms`` bound the recording: a sweep outside that span has no realised figure.
    """

    time_ms: IntArray
    long: NDArray[np.bool_]
    usd: FloatArray
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Steps:
    """One entry per step. NaN where a side has no cluster; ``*_at_ms`` is -1 where not reached.

    ``first``: 1 the upper peak was reached first, -1 the lower, 0 neither within the horizon,
    2 both within the same 5-minute bar (order unknown). ``up_move``/``down_move`` are the log of the
    highest high over the price and of the price over the lowest low within the horizon.
    """

    time_ms: IntArray
    price: FloatArray
    upper: FloatArray
    lower: FloatArray
    usd_upper: FloatArray
    usd_lower: FloatArray
    modelled_upper: FloatArray  # USD of shorts between the price and the upper peak (liquidation map)
    modelled_lower: FloatArray  # USD of longs between the lower peak and the price
    first: IntArray
    upper_at_ms: IntArray  # close time of the bar that first reached the peak
    lower_at_ms: IntArray
    up_move: FloatArray
    down_move: FloatArray
    spread: FloatArray  # sigma x sqrt(horizon) of log price, from the 5-minute closes of the window before t

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])


@dataclass(frozen=True, slots=True)
class MagnetBacktest:
    timeframe: Timeframe
    every_ms: int
    horizon_ms: int
    steps: Steps
    summary: dict[str, Any]  # the report; shape documented in docs/model.md


def resolve_steps(timeframe: Timeframe, every_ms: int | None, horizon_ms: int | None) -> tuple[int, int]:
    """The step and horizon given, else the timeframe's defaults (a timeframe of one's own: one
    bar and a seventh of the window)."""
    every, horizon = DEFAULT_STEPS.get(
        timeframe.key, (timeframe.bar_ms, timeframe.window_ms // 7 // BASE_BAR_MS * BASE_BAR_MS)
    )
    return every_ms or every, horizon_ms or horizon


def last_column_at(*, buckets: Buckets, timeframe: Timeframe, params: ModelParams, t_ms: int) -> HeatmapGrid | None:
    """The map ``compute_heatmap`` draws from the bars that closed by ``t_ms``, last column only.

    ``buckets`` are all buckets of the history at ``timeframe.bar_ms`` aggregated from base bars
    whose open interest was carried forward; only those opening before ``t_ms`` are read, and
    ``t_ms`` must be a bucket boundary so the last one read is complete. None without buckets.
    """
    bar, w = timeframe.bar_ms, timeframe.columns
    if t_ms % bar:
        raise ValueError("t_ms must be a multiple of the timeframe's bar")
    hi = int(np.searchsorted(buckets.open_time, t_ms, side="left"))
    if hi == 0:
        return None
    end = int(buckets.open_time[hi - 1])
    window_start = end - (w - 1) * bar
    lo = int(np.searchsorted(buckets.open_time, window_start - w * bar, side="left"))
    run = buckets.slice(lo, hi)
    win_from = int(np.searchsorted(run.open_time, window_start, side="left"))
    edges = price_edges(low=float(run.low[win_from:].min()), high=float(run.high[win_from:].max()), params=params)
    tier_long, tier_short = run_end_state(buckets=run, edges=edges, params=params)
    return HeatmapGrid(
        timeframe=timeframe,
        params=params,
        times=np.array([end], dtype=np.int64),
        close=run.close[-1:].copy(),
        edges=edges,
        prices=(edges[:-1] + edges[1:]) / 2,
        long=tier_long.sum(axis=0)[None, :],
        short=tier_short.sum(axis=0)[None, :],
        tier_long=tier_long,
        tier_short=tier_short,
    )


def backtest_magnets(
    *,
    bars: Buckets,
    timeframe: Timeframe | str,
    params: ModelParams | None = None,
    every_ms: int | None = None,
    horizon_ms: int | None = None,
    start_ms: int | None = None,
    liquidations: LiquidationEvents | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
) -> MagnetBacktest:
    """Walk forward over 5-minute ``bars``: one step every ``every_ms`` from ``start_ms`` (default:
    the first step with a full warm-up and window), as long as the horizon after it is in the data."""
    tf = TIMEFRAMES[timeframe] if isinstance(timeframe, str) else timeframe
    every_ms, horizon_ms = resolve_steps(tf, every_ms, horizon_ms)
    params = (params or ModelParams()).validate()
    if bars.bar_ms != BASE_BAR_MS:
        raise ValueError("backtest_magnets expects 5-minute base bars")
    if every_ms <= 0 or every_ms % tf.bar_ms:
        raise ValueError(f"the step must be a positive multiple of the {tf.key} map's {tf.bar_ms // 60_000}-minute bar")
    if horizon_ms < BASE_BAR_MS or horizon_ms % BASE_BAR_MS:
        raise ValueError("the horizon must be a positive multiple of 5 minutes")
    base = carry_open_interest(bars)
    steps = _walk(base=base, tf=tf, params=params, every_ms=every_ms, horizon_ms=horizon_ms, start_ms=start_ms)
    block = max(1, math.ceil(horizon_ms / every_ms))  # steps whose horizons overlap move together
    rng = np.random.default_rng(seed)
    summary: dict[str, Any] = {
        "steps": _step_counts(steps),
        "first_reach": _first_reach(steps, block=block, bootstrap=bootstrap, rng=rng),
        "same_distance": _same_distance(steps, block=block, bootstrap=bootstrap, rng=rng),
        "modelled_vs_realised": _modelled_vs_realised(steps, liquidations),
    }
    return MagnetBacktest(timeframe=tf, every_ms=every_ms, horizon_ms=horizon_ms, steps=steps, summary=summary)


def _walk(
    *, base: Buckets, tf: Timeframe, params: ModelParams, every_ms: int, horizon_ms: int, start_ms: int | None
) -> Steps:
    n = len(base)
    if n == 0:
        return _empty_steps()
    buckets = aggregate(base, tf.bar_ms)
    first_open = int(buckets.open_time[0])
    data_end = int(base.open_time[-1]) + BASE_BAR_MS  # close of the newest bar
    earliest = first_open + 2 * tf.window_ms  # a full warm-up and window before the first step
    if start_ms is not None:
        earliest = max(earliest, start_ms)
    first_t = -(-earliest // every_ms) * every_ms
    times = np.arange(first_t, data_end - horizon_ms + 1, every_ms, dtype=np.int64)
    m = times.shape[0]
    if m == 0:
        return _empty_steps()
    price = np.full(m, np.nan)
    upper, lower = np.full(m, np.nan), np.full(m, np.nan)
    usd_up, usd_dn = np.full(m, np.nan), np.full(m, np.nan)
    mod_up, mod_dn = np.full(m, np.nan), np.full(m, np.nan)
    for i, t in enumerate(times.tolist()):
        grid = last_column_at(buckets=buckets, timeframe=tf, params=params, t_ms=t)
        if grid is None:
            continue
        p = grid.current_price
        price[i] = p
        clusters = find_clusters(grid, limit=10_000)
        above = next((c for c in clusters if c.side == "short"), None)  # largest first
        below = next((c for c in clusters if c.side == "long"), None)
        if above is None and below is None:
            continue
        lmap = liquidation_map(grid)
        if above is not None:
            upper[i], usd_up[i] = above.peak_price, above.usd
            mod_up[i] = lmap.cum_short[int(np.searchsorted(lmap.prices, above.peak_price))]
        if below is not None:
            lower[i], usd_dn[i] = below.peak_price, below.usd
            mod_dn[i] = lmap.cum_long[int(np.searchsorted(lmap.prices, below.peak_price))]
    first, up_at, dn_at, up_move, dn_move = _outcomes(base, times, price, upper, lower, horizon_ms)
    return Steps(
        time_ms=times,
        price=price,
        upper=upper,
        lower=lower,
        usd_upper=usd_up,
        usd_lower=usd_dn,
        modelled_upper=mod_up,
        modelled_lower=mod_dn,
        first=first,
        upper_at_ms=up_at,
        lower_at_ms=dn_at,
        up_move=up_move,
        down_move=dn_move,
        spread=_trailing_spread(base, times, window_ms=tf.window_ms, horizon_ms=horizon_ms),
    )


def _empty_steps() -> Steps:
    f, i = np.empty(0), np.empty(0, dtype=np.int64)
    return Steps(i, f, f, f, f, f, f, f, i, i, i, f, f, f)


def _outcomes(
    base: Buckets, times: IntArray, price: FloatArray, upper: FloatArray, lower: FloatArray, horizon_ms: int
) -> tuple[IntArray, IntArray, IntArray, FloatArray, FloatArray]:
    """Per step, over the base bars opening in [t, t + horizon): which peak was touched first
    (high at or above the upper, low at or below the lower), when, and the largest moves."""
    i0 = np.searchsorted(base.open_time, times, side="left")
    i1 = np.searchsorted(base.open_time, times + horizon_ms, side="left")
    span = int((i1 - i0).max(initial=0))
    m = times.shape[0]
    if span == 0:
        none = np.full(m, -1, dtype=np.int64)
        return np.zeros(m, dtype=np.int64), none, none.copy(), np.full(m, np.nan), np.full(m, np.nan)
    # Padded so every step can take a window of `span` bars; bars past a step's horizon are masked.
    high = np.concatenate((base.high, np.full(span, -np.inf)))
    low = np.concatenate((base.low, np.full(span, np.inf)))
    beyond = np.arange(span)[None, :] >= (i1 - i0)[:, None]
    hw = np.where(beyond, -np.inf, sliding_window_view(high, span)[i0])
    lw = np.where(beyond, np.inf, sliding_window_view(low, span)[i0])
    with np.errstate(invalid="ignore", divide="ignore"):
        up_move = np.log(hw.max(axis=1) / price)
        down_move = np.log(price / lw.min(axis=1))
        hit_up = hw >= upper[:, None]  # NaN level: never
        hit_dn = lw <= lower[:, None]
    any_up, any_dn = hit_up.any(axis=1), hit_dn.any(axis=1)
    k_up = np.where(any_up, hit_up.argmax(axis=1), -1)
    k_dn = np.where(any_dn, hit_dn.argmax(axis=1), -1)
    open_time = np.concatenate((base.open_time, np.zeros(span, dtype=np.int64)))
    up_at = np.where(any_up, open_time[i0 + np.maximum(k_up, 0)] + BASE_BAR_MS, -1)
    dn_at = np.where(any_dn, open_time[i0 + np.maximum(k_dn, 0)] + BASE_BAR_MS, -1)
    first = np.zeros(m, dtype=np.int64)
    first[any_up & (~any_dn | (k_up < k_dn))] = 1
    first[any_dn & (~any_up | (k_dn < k_up))] = -1
    first[any_up & any_dn & (k_up == k_dn)] = 2
    return first, up_at.astype(np.int64), dn_at.astype(np.int64), up_move, down_move


def _trailing_spread(base: Buckets, times: IntArray, *, window_ms: int, horizon_ms: int) -> FloatArray:
    """Standard deviation of the log-price change over the horizon, from the 5-minute close-to-close
    returns of the bars that closed in the map's window before each step (no look-ahead)."""
    r = np.diff(np.log(base.close))
    c1 = np.concatenate(([0.0], np.cumsum(r)))
    c2 = np.concatenate(([0.0], np.cumsum(r * r)))
    # return k runs from bar k to bar k+1; those with both bars opening before t - 5 min are known at t
    hi = np.maximum(np.searchsorted(base.open_time, times, side="left") - 1, 0)
    lo = np.minimum(np.searchsorted(base.open_time, times - window_ms, side="left"), hi)
    count = (hi - lo).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c1[hi] - c1[lo]) / count
        var = (c2[hi] - c2[lo]) / count - mean * mean
    return np.asarray(np.sqrt(np.maximum(var, 0.0) * (horizon_ms / BASE_BAR_MS)), dtype=np.float64)


def random_walk_upper_first(d_up: FloatArray, d_dn: FloatArray, spread: FloatArray) -> FloatArray:
    """Chance that a driftless random walk in log price touches ``+d_up`` before ``-d_dn``, given
    that it touches one of them within the horizon (``spread`` = sigma x sqrt(horizon)).

    With an unlimited horizon this is ``d_dn / (d_up + d_dn)``; within a horizon the nearer level
    is favoured more, because the further one is often out of reach, and a step only counts when
    one of the two was reached. Exit probabilities by the eigenfunction series of the two-barrier
    problem; when the levels are more than six spreads apart, touching both within the horizon is
    negligible and each side's one-barrier chance 2 x Phi(-d / spread) is used instead.
    """
    width = d_up + d_dn
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        rel = width / spread
        x0 = d_dn / width  # start, as a fraction of the way from the lower level to the upper
        k = np.arange(1, 65, dtype=np.float64)[None, :]
        decay = np.exp(-((k * np.pi / np.where(rel > 6, 6.0, rel)[:, None]) ** 2) / 2)
        sign = 2 * (-1.0) ** (k + 1) / (k * np.pi)
        p_up = x0 - (sign * np.sin(k * np.pi * x0[:, None]) * decay).sum(axis=1)
        p_dn = (1 - x0) - (sign * np.sin(k * np.pi * (1 - x0)[:, None]) * decay).sum(axis=1)
        far = rel > 6
        p_up = np.where(far, _two_tail(d_up / spread), np.maximum(p_up, 0.0))
        p_dn = np.where(far, _two_tail(d_dn / spread), np.maximum(p_dn, 0.0))
        out = p_up / (p_up + p_dn)
    # Levels so far out that neither chance is representable: distance alone, unlimited horizon.
    return np.asarray(np.where(np.isfinite(out), out, d_dn / width), dtype=np.float64)


def _two_tail(z: FloatArray) -> FloatArray:
    """2 x Phi(-z), the chance a driftless walk touches a level z spreads away within the horizon."""
    return np.asarray(
        [math.erfc(v / math.sqrt(2)) if math.isfinite(v) else math.nan for v in z.tolist()], dtype=np.float64
    )


def _step_counts(steps: Steps) -> dict[str, Any]:
    two = np.isfinite(steps.upper) & np.isfinite(steps.lower)
    return {
        "total": len(steps),
        "first_ms": int(steps.time_ms[0]) if len(steps) else None,
        "last_ms": int(steps.time_ms[-1]) if len(steps) else None,
        "two_sided": int(two.sum()),
        "upper_first": int((two & (steps.first == 1)).sum()),
        "lower_first": int((two & (steps.first == -1)).sum()),
        "neither": int((two & (steps.first == 0)).sum()),
        "same_bar": int((two & (steps.first == 2)).sum()),
    }


def _first_reach(steps: Steps, *, block: int, bootstrap: int, rng: np.random.Generator) -> dict[str, Any]:
    """Which side first, against distance alone; and does the USD ratio add to distance?

    The model is a logistic on the log USD ratio (bigger / smaller) with the distance baseline's
    logit as offset: it can only beat the baseline where the size of a cluster says something
    that its distance does not. Fitted on the first half of the resolved steps in time, scored on
    the second.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        d_up = np.log(steps.upper / steps.price)
        d_dn = np.log(steps.price / steps.lower)
    ok = np.isfinite(d_up) & np.isfinite(d_dn) & (d_up + d_dn > 0) & ((steps.first == 1) | (steps.first == -1))
    ok &= np.isfinite(steps.spread) & (steps.spread > 0)
    d_up, d_dn, first = d_up[ok], d_dn[ok], steps.first[ok]
    big_up = steps.usd_upper[ok] >= steps.usd_lower[ok]
    p_up = random_walk_upper_first(d_up, d_dn, steps.spread[ok])
    p_big = np.where(big_up, p_up, 1 - p_up)
    y = np.where(big_up, first == 1, first == -1).astype(np.float64)
    x = np.log(
        np.maximum(steps.usd_upper[ok], steps.usd_lower[ok]) / np.minimum(steps.usd_upper[ok], steps.usd_lower[ok])
    )
    n = int(y.shape[0])
    out: dict[str, Any] = {
        "resolved": n,
        "share_upper_first": _mean(first == 1),
        "baseline_share_upper_first": _mean(p_up),
        "share_bigger_first": _mean(y),
        "baseline_share_bigger_first": _mean(p_big),
        "fit_steps": 0,
        "scored_steps": 0,
        "coef": None,
        "brier_model": None,
        "brier_baseline": None,
        "brier_difference": None,
        "difference_ci95": None,
        "reliability": None,
    }
    half = n // 2
    if half < MIN_FIT_STEPS:
        return out
    offset = _logit(p_big)
    coef = _fit_logistic(x[:half], y[:half], offset[:half])
    p_model = _sigmoid(offset[half:] + coef[0] + coef[1] * x[half:])
    y2, pb2 = y[half:], p_big[half:]
    loss_model, loss_base = (p_model - y2) ** 2, (pb2 - y2) ** 2
    diff = loss_model - loss_base
    out.update(
        fit_steps=half,
        scored_steps=n - half,
        coef={"intercept": float(coef[0]), "log_usd_ratio": float(coef[1])},
        brier_model=float(loss_model.mean()),
        brier_baseline=float(loss_base.mean()),
        brier_difference=float(diff.mean()),
        difference_ci95=_block_bootstrap_ci(diff, block=block, reps=bootstrap, rng=rng),
        reliability={"model": _reliability(p_model, y2), "baseline": _reliability(pb2, y2)},
    )
    return out


def _same_distance(steps: Steps, *, block: int, bootstrap: int, rng: np.random.Generator) -> dict[str, Any]:
    """Hit rate of the largest cluster within the horizon against a level at the same log distance
    on the same side, at every step time of the backtest (the exact mean over random times)."""
    usd_up = np.nan_to_num(steps.usd_upper, nan=-np.inf)
    usd_dn = np.nan_to_num(steps.usd_lower, nan=-np.inf)
    has = np.isfinite(steps.usd_upper) | np.isfinite(steps.usd_lower)
    up_side = usd_up >= usd_dn
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.where(up_side, np.log(steps.upper / steps.price), np.log(steps.price / steps.lower))
    move = np.where(up_side, steps.up_move, steps.down_move)
    ok = has & np.isfinite(dist) & np.isfinite(move)
    if not ok.any():
        return {"steps": 0, "hit_rate": None, "baseline_hit_rate": None, "difference": None, "difference_ci95": None}
    ups = np.sort(steps.up_move[np.isfinite(steps.up_move)])
    downs = np.sort(steps.down_move[np.isfinite(steps.down_move)])
    hit = (move >= dist)[ok].astype(np.float64)
    d, side = dist[ok], up_side[ok]
    # Share of all step times at which price moved at least d on that side within the horizon.
    base_up = 1 - np.searchsorted(ups, d, side="left") / max(ups.shape[0], 1)
    base_dn = 1 - np.searchsorted(downs, d, side="left") / max(downs.shape[0], 1)
    base = np.where(side, base_up, base_dn)
    diff = hit - base
    return {
        "steps": int(hit.shape[0]),
        "hit_rate": float(hit.mean()),
        "baseline_hit_rate": float(base.mean()),
        "difference": float(diff.mean()),
        "difference_ci95": _block_bootstrap_ci(diff, block=block, reps=bootstrap, rng=rng),
    }


def _modelled_vs_realised(steps: Steps, events: LiquidationEvents | None) -> dict[str, Any] | None:
    """Per sweep (a peak reached within the horizon, inside the recorded span): the USD the map had
    between the price and the peak, and the USD of that side's recorded liquidations from the step
    to the bar that reached it."""
    if events is None or events.time_ms.shape[0] == 0:
        return None
    order = np.argsort(events.time_ms, kind="stable")
    t_ev, long_ev, usd_ev = events.time_ms[order], events.long[order], events.usd[order]
    modelled: list[FloatArray] = []
    realised: list[FloatArray] = []
    for at, mod, is_long in (
        (steps.upper_at_ms, steps.modelled_upper, False),
        (steps.lower_at_ms, steps.modelled_lower, True),
    ):
        swept = (at >= 0) & (steps.time_ms >= events.start_ms) & (at <= events.end_ms) & np.isfinite(mod)
        cum = np.concatenate(([0.0], np.cumsum(np.where(long_ev == is_long, usd_ev, 0.0))))
        lo = np.searchsorted(t_ev, steps.time_ms[swept], side="left")
        hi = np.searchsorted(t_ev, at[swept], side="left")
        modelled.append(mod[swept])
        realised.append(cum[hi] - cum[lo])
    m, r = np.concatenate(modelled), np.concatenate(realised)
    n = int(m.shape[0])
    positive = m > 0
    corr = None
    if n >= 3 and np.std(m) > 0 and np.std(r) > 0:
        corr = float(np.corrcoef(m, r)[0, 1])
    return {
        "sweeps": n,
        "modelled_usd": float(m.sum()),
        "realised_usd": float(r.sum()),
        "ratio": float(r.sum() / m.sum()) if m.sum() > 0 else None,
        "median_ratio": float(np.median(r[positive] / m[positive])) if positive.any() else None,
        "correlation": corr,
    }


def _mean(values: NDArray[Any]) -> float | None:
    return float(np.mean(values)) if values.size else None


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)), dtype=np.float64)


def _sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(1 / (1 + np.exp(-z)), dtype=np.float64)


def _fit_logistic(x: FloatArray, y: FloatArray, offset: FloatArray, *, ridge: float = 1.0) -> FloatArray:
    """Newton-Raphson for ``logit p = offset + a + b x``. The small ridge keeps the coefficients
    finite when a short sample happens to be separable."""
    design = np.column_stack((np.ones_like(x), x))
    w = np.zeros(2)
    for _ in range(50):
        p = _sigmoid(offset + design @ w)
        grad = design.T @ (y - p) - ridge * w
        hess = (design * (p * (1 - p))[:, None]).T @ design + ridge * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w = w + step
        if np.abs(step).max() < 1e-10:
            break
    return w


def _block_bootstrap_ci(values: FloatArray, *, block: int, reps: int, rng: np.random.Generator) -> list[float] | None:
    """95 % interval of the mean by a moving-block bootstrap: neighbouring steps share most of their
    horizon, so resampling single steps would treat overlapping outcomes as independent."""
    n = values.shape[0]
    if n < 2 or reps < 1:
        return None
    b = min(block, n)
    k = -(-n // b)
    starts = rng.integers(0, n - b + 1, size=(reps, k))
    idx = (starts[:, :, None] + np.arange(b)[None, None, :]).reshape(reps, -1)[:, :n]
    means = values[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return [float(lo), float(hi)]


def _reliability(pred: FloatArray, y: FloatArray) -> list[dict[str, Any]]:
    which = np.minimum((pred * RELIABILITY_BINS).astype(np.int64), RELIABILITY_BINS - 1)
    rows = []
    for k in range(RELIABILITY_BINS):
        mine = which == k
        count = int(mine.sum())
        rows.append(
            {
                "lo": k / RELIABILITY_BINS,
                "hi": (k + 1) / RELIABILITY_BINS,
                "n": count,
                "predicted": float(pred[mine].mean()) if count else None,
                "realised": float(y[mine].mean()) if count else None,
            }
        )
    return rows
