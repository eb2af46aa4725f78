"""Liquidation heat-map engine, model v1 (see docs/model.md and the model specification).

Pure numpy on purpose: no Django import, so the engine can be tested, benchmarked and reused
without a database. Every public function is keyword-only so call sites stay readable when the
model grows parameters.

Layout of the work:

* ``heatmaps.engine.inputs``: timeframes, model parameters, ``Buckets`` (aligned bars; an empty
  bucket is simply a missing ``open_time``) and ``aggregate`` (epoch-aligned roll-up with ``reduceat``),
  re-exported here.
* ``run_model`` steps the state over a run of buckets and writes the output columns.
* ``compute_heatmap`` / ``compute_all_timeframes`` pick the window and warm-up and build the grid.

Derived views (liquidation map, clusters, colour scale) live in ``heatmaps.engine.derived``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from heatmaps.engine.inputs import (  # noqa: F401  (re-exported: the engine's public API)
    BASE_BAR_MS,
    DEFAULT_TIERS,
    MODEL_VERSION,
    TIMEFRAMES,
    BaseBars,
    Buckets,
    FloatArray,
    IntArray,
    ModelParams,
    Timeframe,
    aggregate,
    carry_open_interest,
)


def price_edges(*, low: float, high: float, params: ModelParams) -> FloatArray:
    """Bin edges of the price grid (spec §3): ``linspace(low*(1-pad), high*(1+pad), n_bins+1)``."""
    return np.linspace(low * (1 - params.pad), high * (1 + params.pad), params.n_bins + 1)


@dataclass(frozen=True, slots=True)
class MassBalance:
    """USD booked over the whole run (warm-up included), per side.

    ``added - swept - closed`` equals the total of the final state up to round-off; ``dropped`` is
    new flow whose liquidation price fell outside the grid and was never added.
    """

    added_long: float = 0.0
    added_short: float = 0.0
    swept_long: float = 0.0
    swept_short: float = 0.0
    closed_long: float = 0.0
    closed_short: float = 0.0
    dropped_long: float = 0.0
    dropped_short: float = 0.0


@dataclass(frozen=True, slots=True)
class ModelRun:
    long: FloatArray  # (columns, n_bins)
    short: FloatArray  # (columns, n_bins)
    tier_long: FloatArray  # (n_tiers, n_bins): state after the last bucket, per tier
    tier_short: FloatArray
    balance: MassBalance


def run_model(
    *,
    buckets: Buckets,
    edges: FloatArray,
    params: ModelParams,
    start_ms: int | None = None,
    columns: int | None = None,
) -> ModelRun:
    """Run model v1 over ``buckets`` (all of them, in order: the run) on the grid ``edges``.

    Output column ``i`` is the state after the last bucket whose ``open_time`` is at or before
    ``start_ms + i * bar_ms`` (zeros if none): buckets before ``start_ms`` are warm-up, and an
    empty slot repeats the previous state. Defaults: start at the first bucket, end at the last.
    """
    params.validate()
    n = len(buckets)
    bar_ms = buckets.bar_ms
    n_bins = edges.shape[0] - 1
    if n_bins < 1:
        raise ValueError("edges must hold at least two values")
    if start_ms is None:
        start_ms = int(buckets.open_time[0]) if n else 0
    if columns is None:
        columns = (int(buckets.open_time[-1]) - start_ms) // bar_ms + 1 if n else 0
    if start_ms % bar_ms:
        raise ValueError("start_ms must be aligned to the bucket size")
    if n and int(buckets.open_time[-1]) >= start_ms + columns * bar_ms:
        raise ValueError("buckets extend past the last output column")

    # Tiers in leverage order: then each bar's long bins rise and its short bins fall with the
    # tier index, so tiers landing in the same bin are neighbours (merged below).
    tiers = sorted(params.tiers)
    lev = np.array([t[0] for t in tiers], dtype=np.float64)
    weights = np.array([t[1] for t in tiers], dtype=np.float64)
    order = sorted(range(len(params.tiers)), key=lambda t: params.tiers[t])
    n_tiers = lev.shape[0]
    m = params.mmr
    centers = (edges[:-1] + edges[1:]) / 2

    # Everything that does not depend on the state is computed for all buckets at once; the loop
    # below only touches the state. Expression order mirrors the spec so the bin a liquidation
    # price lands in is bit-identical to a literal scalar implementation.
    high, low, close, oi = buckets.high, buckets.low, buckets.close, buckets.oi_value
    d = np.zeros(n)
    prev_oi = np.full(n, np.nan)
    if n > 1:
        np.subtract(oi[1:], oi[:-1], out=d[1:])
        prev_oi[1:] = oi[:-1]
    # Unknown OI on either side means no flow (see carry_open_interest); d[0] stays 0 because the
    # first bar of the run only sets the starting OI.
    d[np.isnan(d)] = 0.0
    volume, taker = buckets.volume, buckets.taker_buy
    known = (volume > 0) & ~np.isnan(taker)  # NaN volume compares False
    s = np.full(n, 0.5)
    s[known] = np.clip(taker[known] / volume[known], 0.0, 1.0)
    closing = (d < 0) & (prev_oi > 0)
    close_f = np.zeros(n)
    close_f[closing] = np.minimum(1.0, -d[closing] / prev_oi[closing])
    keep = 1 - close_f
    e = (high + low + close) / 3
    gain = np.maximum(d, 0.0)
    liq_long = e[:, None] * (1 - 1 / lev) / (1 - m)
    liq_short = e[:, None] * (1 + 1 / lev) / (1 + m)
    bins = _bin_of(edges, np.concatenate((liq_long, liq_short), axis=1))
    ok = (bins >= 0) & (bins < n_bins)
    amt = np.concatenate(((gain * s)[:, None] * weights, (gain * (1 - s))[:, None] * weights), axis=1)
    dropped = np.where(ok, 0.0, amt)
    amt[~ok] = 0.0
    bins[~ok] = n_bins  # the scratch slot
    dropped_long = float(dropped[:, :n_tiers].sum())
    dropped_short = float(dropped[:, n_tiers:].sum())
    added = amt.sum(axis=0)
    added_long = float(added[:n_tiers].sum())
    added_short = float(added[n_tiers:].sum())

    # Per-tier state is only needed at the last column, so instead of carrying (tiers x bins) through
    # the loop it is derived afterwards: a deposit survives if no later bar traded through its bin,
    # and is scaled by every later closing factor.
    later = np.ones(n)
    if n > 1:
        later[:-1] = np.multiply.accumulate(keep[:0:-1])[::-1]
    centre_of = np.append(centers, np.nan)[bins]  # NaN for the scratch slot: never alive
    alive = np.concatenate(
        (
            centre_of[:, :n_tiers] < _suffix(low, np.minimum)[:, None],
            centre_of[:, n_tiers:] > _suffix(high, np.maximum)[:, None],
        ),
        axis=1,
    )
    tier_flat = (np.arange(2 * n_tiers) * n_bins)[None, :] + bins
    per_tier = np.bincount(tier_flat[alive], weights=(amt * later[:, None])[alive], minlength=2 * n_tiers * n_bins)
    per_tier = per_tier.reshape(2, n_tiers, n_bins)[:, np.argsort(order)]

    # The loop keeps both sides in one flat vector, longs then shorts, plus a scratch slot at the
    # end where zero amounts (off-grid prices) are sent. Tiers hitting the same bin in one bar
    # would collide in a fancy-indexed += (only one add survives), so their amounts are merged
    # into the first of the neighbours and the others sent to the scratch slot too.
    scratch = 2 * n_bins
    flat_idx = np.where(bins == n_bins, scratch, bins)
    flat_idx[:, n_tiers:] += np.where(bins[:, n_tiers:] == n_bins, 0, n_bins)
    flat_amt = amt.copy()
    for side in (0, n_tiers):
        for k in range(side + n_tiers - 1, side, -1):
            dup = (bins[:, k] == bins[:, k - 1]) & (bins[:, k] < n_bins)
            if dup.any():
                flat_amt[dup, k - 1] += flat_amt[dup, k]
                flat_amt[dup, k] = 0.0
                flat_idx[dup, k] = scratch
    has_gain = (gain > 0).tolist()
    top_add = np.where(ok[:, :n_tiers], bins[:, :n_tiers] + 1, 0).max(axis=1, initial=0).tolist()
    bot_add = bins[:, n_tiers:].min(axis=1, initial=n_bins).tolist()
    sweep_long = np.searchsorted(centers, low, side="left").tolist()  # first bin with centre >= low
    sweep_short = np.searchsorted(centers, high, side="right").tolist()  # bins before: centre <= high
    keep_l = keep.tolist()
    has_close = closing.tolist()
    cols = ((buckets.open_time - start_ms) // bar_ms).tolist()
    amt_long = amt[:, :n_tiers]
    amt_short = amt[:, n_tiers:]
    flat = np.zeros(2 * n_bins + 1)
    lng = flat[:n_bins]
    sht = flat[n_bins:scratch]
    # Written column by column straight into the returned arrays: a staging buffer would double
    # the fresh memory, and first-touch page faults are a visible part of the run time.
    out_long = np.empty((columns, n_bins))
    out_short = np.empty((columns, n_bins))
    swept_long = swept_short = closed_long = closed_short = 0.0
    # Running side totals give the USD a close removes without summing the state every bar;
    # they drift only by round-off, which is all the bookkeeping promises.
    add_long = amt_long.sum(axis=1).tolist()
    add_short = amt_short.sum(axis=1).tolist()
    total_long = total_short = 0.0
    # Watermarks bound the bins that can be non-zero, so a sweep only touches (and sums) the part
    # of the state that actually holds positions: longs below `top`, shorts from `bot` up.
    top = 0
    bot = n_bins
    next_col = 0
    for j in range(n):
        col = cols[j]
        if col > next_col:
            # Slots with no bucket repeat the state after the previous bucket.
            out_long[next_col:col] = lng
            out_short[next_col:col] = sht
        i = sweep_long[j]
        if i < top:
            part = lng[i:top]
            gone = float(part.sum())
            swept_long += gone
            total_long -= gone
            part.fill(0.0)
            top = i
        k = sweep_short[j]
        if k > bot:
            part = sht[bot:k]
            gone = float(part.sum())
            swept_short += gone
            total_short -= gone
            part.fill(0.0)
            bot = k
        if has_close[j]:
            g = keep_l[j]
            closed_long += total_long * (1.0 - g)
            closed_short += total_short * (1.0 - g)
            total_long *= g
            total_short *= g
            np.multiply(flat, g, out=flat)
        elif has_gain[j]:
            flat[flat_idx[j]] += flat_amt[j]
            flat[scratch] = 0.0
            total_long += add_long[j]
            total_short += add_short[j]
            top = max(top, top_add[j])
            bot = min(bot, bot_add[j])
        if col >= 0:
            out_long[col] = lng
            out_short[col] = sht
            next_col = col + 1
    if next_col < columns:
        out_long[next_col:] = lng
        out_short[next_col:] = sht

    return ModelRun(
        long=out_long,
        short=out_short,
        tier_long=per_tier[0],
        tier_short=per_tier[1],
        balance=MassBalance(
            added_long=added_long,
            added_short=added_short,
            swept_long=swept_long,
            swept_short=swept_short,
            closed_long=closed_long,
            closed_short=closed_short,
            dropped_long=dropped_long,
            dropped_short=dropped_short,
        ),
    )


def _bin_of(edges: FloatArray, prices: FloatArray) -> IntArray:
    """Bin ``k`` with ``edges[k] <= p < edges[k+1]``; -1 below the grid, ``n_bins`` at or above it.

    Same answer as ``searchsorted(edges, p, "right") - 1`` but ~10x faster for unsorted prices:
    the equal-width guess is off by at most one bin (round-off), which the comparison against
    the actual edges corrects, so boundary cases still follow the edges exactly.
    """
    n_bins = edges.shape[0] - 1
    lo, hi = float(edges[0]), float(edges[-1])
    if not hi > lo:
        return np.full(prices.shape, n_bins, dtype=np.int64)  # empty grid: every price is outside
    guess = np.floor((prices - lo) * (n_bins / (hi - lo)))
    k: IntArray = np.clip(guess, 0, n_bins - 1).astype(np.int64)
    k -= prices < edges[k]
    k += prices >= edges[k + 1]
    return k


def _suffix(values: FloatArray, op: np.ufunc) -> FloatArray:
    """``out[j]`` = min (``np.minimum``) or max (``np.maximum``) of ``values[j+1:]``.

    The last entry, with nothing after it, is +inf for min and -inf for max, so nothing later
    ever sweeps what the last bar left.
    """
    out = np.empty_like(values)
    if values.size:
        out[-1] = np.inf if op is np.minimum else -np.inf
        out[:-1] = op.accumulate(values[:0:-1])[::-1]
    return out


@dataclass(frozen=True, slots=True)
class HeatmapGrid:
    """One timeframe's heat map: ``long``/``short`` are (columns, n_bins) USD; the map is their sum."""

    timeframe: Timeframe
    params: ModelParams
    times: IntArray  # (W,) bucket starts, ms
    close: FloatArray  # (W,) NaN for empty buckets
    edges: FloatArray  # (n_bins + 1,)
    prices: FloatArray  # (n_bins,) bin centres
    long: FloatArray
    short: FloatArray
    tier_long: FloatArray  # (n_tiers, n_bins) at the last column
    tier_short: FloatArray
    balance: MassBalance = field(default_factory=MassBalance)
    model_version: str = MODEL_VERSION

    @property
    def leverages(self) -> tuple[float, ...]:
        return self.params.leverages

    @property
    def end_time(self) -> int:
        return int(self.times[-1])

    @property
    def current_price(self) -> float:
        """Close of the end bucket, or the last known close if that is missing."""
        known = np.flatnonzero(~np.isnan(self.close))
        return float(self.close[known[-1]]) if known.size else math.nan

    @property
    def total(self) -> FloatArray:
        return self.long + self.short


def _heatmap_from_buckets(*, buckets: Buckets, timeframe: Timeframe, params: ModelParams) -> HeatmapGrid:
    """Window/warm-up selection and grid (spec §2-3) on buckets already at ``timeframe.bar_ms``."""
    if len(buckets) == 0:
        raise ValueError("no bars to build a heat map from")
    bar = timeframe.bar_ms
    w = timeframe.columns
    end = int(buckets.open_time[-1])
    window_start = end - (w - 1) * bar
    run = buckets.since(window_start - w * bar)
    win_from = int(np.searchsorted(run.open_time, window_start, side="left"))
    edges = price_edges(low=float(run.low[win_from:].min()), high=float(run.high[win_from:].max()), params=params)
    result = run_model(buckets=run, edges=edges, params=params, start_ms=window_start, columns=w)
    times = window_start + bar * np.arange(w, dtype=np.int64)
    close = np.full(w, np.nan)
    close[(run.open_time[win_from:] - window_start) // bar] = run.close[win_from:]
    return HeatmapGrid(
        timeframe=timeframe,
        params=params,
        times=times,
        close=close,
        edges=edges,
        prices=(edges[:-1] + edges[1:]) / 2,
        long=result.long,
        short=result.short,
        tier_long=result.tier_long,
        tier_short=result.tier_short,
        balance=result.balance,
    )


def _resolve(timeframe: Timeframe | str) -> Timeframe:
    if isinstance(timeframe, Timeframe):
        return timeframe
    try:
        return TIMEFRAMES[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r}; known: {', '.join(TIMEFRAMES)}") from None


def compute_heatmap(*, bars: Buckets, timeframe: Timeframe | str, params: ModelParams | None = None) -> HeatmapGrid:
    """Heat map of one timeframe from 5-minute base bars (spec §2-5)."""
    tf = _resolve(timeframe)
    params = (params or ModelParams()).validate()
    if bars.bar_ms != BASE_BAR_MS:
        raise ValueError("compute_heatmap expects 5-minute base bars")
    if len(bars) == 0:
        raise ValueError("no bars to build a heat map from")
    end = int(bars.open_time[-1]) // tf.bar_ms * tf.bar_ms
    # Only base bars of warm-up + window matter (OI is carried over the full history first, as a
    # gap may start before the run).
    buckets = aggregate(carry_open_interest(bars).since(end - (2 * tf.columns - 1) * tf.bar_ms), tf.bar_ms)
    return _heatmap_from_buckets(buckets=buckets, timeframe=tf, params=params)


def compute_all_timeframes(
    *,
    bars: Buckets,
    params: ModelParams | None = None,
    timeframes: Iterable[Timeframe | str] | None = None,
) -> dict[str, HeatmapGrid]:
    """Heat maps of several timeframes (default: all nine); equal to calling ``compute_heatmap``
    for each, sharing validation, the OI carry-forward and aggregations of equal bucket size."""
    tfs = [_resolve(t) for t in (TIMEFRAMES.values() if timeframes is None else timeframes)]
    params = (params or ModelParams()).validate()
    if bars.bar_ms != BASE_BAR_MS:
        raise ValueError("compute_all_timeframes expects 5-minute base bars")
    if len(bars) == 0:
        raise ValueError("no bars to build a heat map from")
    last = int(bars.open_time[-1])
    run_start: Mapping[str, int] = {
        tf.key: last // tf.bar_ms * tf.bar_ms - (2 * tf.columns - 1) * tf.bar_ms for tf in tfs
    }
    base = carry_open_interest(bars)
    # Each bucket size is aggregated straight from the base bars over the span its own timeframes
    # need. Chaining coarse sizes from finer aggregates looks cheaper but is not: reduceat costs
    # mostly per output group, and chaining forces the fine sizes to cover the longest span.
    levels: dict[int, Buckets] = {}
    for tf in tfs:
        start = min(run_start[t.key] for t in tfs if t.bar_ms == tf.bar_ms)
        if tf.bar_ms not in levels:
            levels[tf.bar_ms] = aggregate(base.since(start), tf.bar_ms)
    return {tf.key: _heatmap_from_buckets(buckets=levels[tf.bar_ms], timeframe=tf, params=params) for tf in tfs}
