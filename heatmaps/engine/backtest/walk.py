"""The walk itself: the map at each step from the data up to it, and what price did over the horizon."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from heatmaps.engine.derived import find_clusters, liquidation_map
from heatmaps.engine.inputs import (
    BASE_BAR_MS,
    Buckets,
    FloatArray,
    IntArray,
    ModelParams,
    Timeframe,
    aggregate,
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
    bin_width: FloatArray  # the price width of one bin of the map at t (events: peaks within one bin are one wall)

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])


def resolve_steps(timeframe: Timeframe, every_ms: int | None, horizon_ms: int | None) -> tuple[int, int]:
    """The step and horizon given, else the timeframe's defaults (a timeframe of one's own: one
    bar and a seventh of the window)."""
    every, horizon = DEFAULT_STEPS.get(
        timeframe.key, (timeframe.bar_ms, timeframe.window_ms // 7 // BASE_BAR_MS * BASE_BAR_MS)
    )
    return every_ms or every, horizon_ms or horizon


class ColumnAt(Protocol):
    """How a model draws its map at a step: the last column only, from the buckets that closed by ``t_ms``."""

    def __call__(
        self, *, buckets: Buckets, timeframe: Timeframe, params: ModelParams, t_ms: int
    ) -> HeatmapGrid | None: ...


def run_before(
    *, buckets: Buckets, timeframe: Timeframe, params: ModelParams, t_ms: int
) -> tuple[Buckets, int, FloatArray] | None:
    """The run (warm-up and window) of the map drawn from the buckets that closed by ``t_ms``, the newest
    bucket's start and the map's price edges, as ``compute_heatmap`` chooses them; None without buckets.
    ``t_ms`` must be a bucket boundary so the last bucket read is complete."""
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
    return run, end, edges


def last_column_at(*, buckets: Buckets, timeframe: Timeframe, params: ModelParams, t_ms: int) -> HeatmapGrid | None:
    """The map ``compute_heatmap`` draws from the bars that closed by ``t_ms``, last column only.

    ``buckets`` are all buckets of the history at ``timeframe.bar_ms`` aggregated from base bars
    whose open interest was carried forward; only those opening before ``t_ms`` are read, and
    ``t_ms`` must be a bucket boundary so the last one read is complete. None without buckets.
    """
    found = run_before(buckets=buckets, timeframe=timeframe, params=params, t_ms=t_ms)
    if found is None:
        return None
    run, end, edges = found
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


def _walk(
    *,
    base: Buckets,
    tf: Timeframe,
    params: ModelParams,
    every_ms: int,
    horizon_ms: int,
    start_ms: int | None,
    bands: Sequence[tuple[float, float] | None] = (None,),
    column_at: ColumnAt | None = None,
) -> list[Steps]:
    """One ``Steps`` per band (None: every tier): the run at each step is computed once and each
    band reads its own clusters off it, so the variants share steps, horizons and spreads.

    ``column_at`` draws the map at a step (default: model v1's ``last_column_at``); another model is
    scored by the same protocol by passing its own, with the same contract: the last column of the
    map drawn from the buckets that closed by ``t_ms``, tiers included."""
    draw = column_at or last_column_at
    n = len(base)
    if n == 0:
        return [_empty_steps() for _ in bands]
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
        return [_empty_steps() for _ in bands]
    k = len(bands)
    price = np.full(m, np.nan)
    bin_width = np.full(m, np.nan)
    upper, lower = np.full((k, m), np.nan), np.full((k, m), np.nan)
    usd_up, usd_dn = np.full((k, m), np.nan), np.full((k, m), np.nan)
    mod_up, mod_dn = np.full((k, m), np.nan), np.full((k, m), np.nan)
    for i, t in enumerate(times.tolist()):
        full = draw(buckets=buckets, timeframe=tf, params=params, t_ms=t)
        if full is None:
            continue
        price[i] = full.current_price
        bin_width[i] = float(full.edges[1] - full.edges[0])
        for j, band in enumerate(bands):
            grid = full if band is None else leverage_band(full, band)
            clusters = find_clusters(grid, limit=10_000)
            above = next((c for c in clusters if c.side == "short"), None)  # largest first
            below = next((c for c in clusters if c.side == "long"), None)
            if above is None and below is None:
                continue
            lmap = liquidation_map(grid)
            if above is not None:
                upper[j, i], usd_up[j, i] = above.peak_price, above.usd
                mod_up[j, i] = lmap.cum_short[int(np.searchsorted(lmap.prices, above.peak_price))]
            if below is not None:
                lower[j, i], usd_dn[j, i] = below.peak_price, below.usd
                mod_dn[j, i] = lmap.cum_long[int(np.searchsorted(lmap.prices, below.peak_price))]
    spread = _trailing_spread(base, times, window_ms=tf.window_ms, horizon_ms=horizon_ms)
    out = []
    for j in range(k):
        first, up_at, dn_at, up_move, dn_move = _outcomes(base, times, price, upper[j], lower[j], horizon_ms)
        out.append(
            Steps(
                time_ms=times,
                price=price,
                upper=upper[j],
                lower=lower[j],
                usd_upper=usd_up[j],
                usd_lower=usd_dn[j],
                modelled_upper=mod_up[j],
                modelled_lower=mod_dn[j],
                first=first,
                upper_at_ms=up_at,
                lower_at_ms=dn_at,
                up_move=up_move,
                down_move=dn_move,
                spread=spread,
                bin_width=bin_width,
            )
        )
    return out


def leverage_band(grid: HeatmapGrid, leverages: tuple[float, float]) -> HeatmapGrid:
    """The map of the positions whose leverage lies in ``[lo, hi]`` only (a variant of the same run:
    the clusters, the liquidation map and the peaks are then those of that band)."""
    lo, hi = leverages
    keep = np.array([lo <= lev <= hi for lev in grid.leverages])
    if not keep.any():
        raise ValueError(f"no leverage tier between {lo:g}x and {hi:g}x")
    return dataclasses.replace(
        grid,
        long=grid.tier_long[keep].sum(axis=0)[None, :],
        short=grid.tier_short[keep].sum(axis=0)[None, :],
        tier_long=grid.tier_long * keep[:, None],
        tier_short=grid.tier_short * keep[:, None],
    )


def _empty_steps() -> Steps:
    f, i = np.empty(0), np.empty(0, dtype=np.int64)
    return Steps(i, f, f, f, f, f, f, f, i, i, i, f, f, f, f)


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
