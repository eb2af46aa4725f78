"""The engine's run as it was before its speed-up, kept verbatim as the yardstick.

The engine must still give bit-identical maps (tests/heatmaps/engine/test_same_maps_as_before.py) and
bench/bench_engine.py times both. Same names as in heatmaps.engine, one module: run.py's steps,
inputs.py's aggregation and model.py's window/warm-up selection of that time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from heatmaps.engine.inputs import (
    BASE_BAR_MS,
    TIMEFRAMES,
    Buckets,
    FloatArray,
    IntArray,
    ModelParams,
    Timeframe,
)
from heatmaps.engine.model import HeatmapGrid, price_edges
from heatmaps.engine.run import MassBalance


def carry_open_interest(bars: Buckets) -> Buckets:
    """Forward-fill unknown (NaN) open interest with the last known value.

    Why: a missing OI snapshot says nothing about positions, so the model must not read it as
    "OI fell to zero" (which would close everything). Carrying the last value means no flow on the
    unknown bars; the change across the gap is booked on the first bar where OI is known again.
    Bars before the first known OI stay NaN and cause no flow either.
    """
    oi = bars.oi_value
    missing = np.isnan(oi)
    if not missing.any():
        return bars
    idx = np.where(missing, 0, np.arange(oi.shape[0]))
    np.maximum.accumulate(idx, out=idx)
    filled = oi[idx]
    filled[missing & (idx == 0) & np.isnan(oi[0])] = np.nan  # nothing known yet
    return Buckets._trusted(
        open_time=bars.open_time,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=bars.volume,
        taker_buy=bars.taker_buy,
        oi_value=filled,
        bar_ms=bars.bar_ms,
    )


def aggregate(bars: Buckets, bar_ms: int) -> Buckets:
    """Roll bars up into epoch-aligned buckets of ``bar_ms`` (spec §2).

    ``bar_ms`` must be a multiple of ``bars.bar_ms``; then aggregating an aggregation gives the
    same highs, lows, closes and OI as aggregating the base bars directly (sums may differ in the
    last bit), which ``compute_all_timeframes`` uses to avoid re-reading every base bar.
    NaN in volume/taker_buy propagates to the bucket: a partly unknown split is unknown.
    """
    if bar_ms <= 0 or bar_ms % bars.bar_ms:
        raise ValueError(f"cannot aggregate {bars.bar_ms} ms bars into {bar_ms} ms buckets")
    if bar_ms == bars.bar_ms or len(bars) == 0:
        return Buckets._trusted(
            open_time=bars.open_time,
            high=bars.high,
            low=bars.low,
            close=bars.close,
            volume=bars.volume,
            taker_buy=bars.taker_buy,
            oi_value=bars.oi_value,
            bar_ms=bar_ms,
        )
    keys = bars.open_time // bar_ms * bar_ms
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    lasts = np.empty_like(starts)
    lasts[:-1] = starts[1:] - 1
    lasts[-1] = keys.shape[0] - 1
    return Buckets._trusted(
        open_time=keys[starts],
        high=np.maximum.reduceat(bars.high, starts),
        low=np.minimum.reduceat(bars.low, starts),
        close=bars.close[lasts],
        volume=np.add.reduceat(bars.volume, starts),
        taker_buy=np.add.reduceat(bars.taker_buy, starts),
        oi_value=bars.oi_value[lasts],
        bar_ms=bar_ms,
    )


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

    The steps: the open-interest flow of every bucket, where its new positions land (per tier),
    the per-tier state at the end, then one pass over the buckets that removes swept positions,
    applies closes, adds the new positions and writes each column.
    """
    params.validate()
    start_ms, columns = _output_window(buckets, edges, start_ms=start_ms, columns=columns)
    flow = _open_interest_flow(buckets)
    placed = _place_new_positions(buckets, flow, edges=edges, params=params)
    tier_long, tier_short = _tier_state_at_end(buckets, flow, placed, edges=edges)
    out_long, out_short, removed = _accumulate_columns(
        buckets, flow, placed, edges=edges, start_ms=start_ms, columns=columns
    )
    return ModelRun(
        long=out_long,
        short=out_short,
        tier_long=tier_long,
        tier_short=tier_short,
        balance=MassBalance(
            added_long=placed.added_long,
            added_short=placed.added_short,
            swept_long=removed.swept_long,
            swept_short=removed.swept_short,
            closed_long=removed.closed_long,
            closed_short=removed.closed_short,
            dropped_long=placed.dropped_long,
            dropped_short=placed.dropped_short,
        ),
    )


def run_end_state(*, buckets: Buckets, edges: FloatArray, params: ModelParams) -> tuple[FloatArray, FloatArray]:
    """The per-tier state after the last bucket of the run ``buckets`` on the grid ``edges``.

    Equal, up to round-off, to ``run_model(...).tier_long`` / ``tier_short``: the same flow and
    placement, with the end state derived in closed form and no output columns written. A
    walk-forward backtest needs the end state at thousands of points in time; this costs one
    vectorised pass over the run instead of the sequential one.
    """
    params.validate()
    if edges.shape[0] - 1 < 1:
        raise ValueError("edges must hold at least two values")
    flow = _open_interest_flow(buckets)
    placed = _place_new_positions(buckets, flow, edges=edges, params=params)
    return _tier_state_at_end(buckets, flow, placed, edges=edges)


def _output_window(
    buckets: Buckets, edges: FloatArray, *, start_ms: int | None, columns: int | None
) -> tuple[int, int]:
    """The first output column's time and the number of columns, checked against the buckets."""
    n = len(buckets)
    bar_ms = buckets.bar_ms
    if edges.shape[0] - 1 < 1:
        raise ValueError("edges must hold at least two values")
    if start_ms is None:
        start_ms = int(buckets.open_time[0]) if n else 0
    if columns is None:
        columns = (int(buckets.open_time[-1]) - start_ms) // bar_ms + 1 if n else 0
    if start_ms % bar_ms:
        raise ValueError("start_ms must be aligned to the bucket size")
    if n and int(buckets.open_time[-1]) >= start_ms + columns * bar_ms:
        raise ValueError("buckets extend past the last output column")
    return start_ms, columns


@dataclass(frozen=True, slots=True)
class _Flow:
    """Per bucket: new open interest (``gain``), the taker-buy share that splits it into longs and
    shorts (``s``), and the fraction of every position that survives a fall in OI (``keep``)."""

    gain: FloatArray
    s: FloatArray
    closing: NDArray[np.bool_]
    keep: FloatArray


def _open_interest_flow(buckets: Buckets) -> _Flow:
    n = len(buckets)
    oi = buckets.oi_value
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
    return _Flow(gain=np.maximum(d, 0.0), s=s, closing=closing, keep=1 - close_f)


@dataclass(frozen=True, slots=True)
class _Placement:
    """Where each bucket's new positions land: ``bins`` and ``amt`` are (buckets, 2 x tiers), long
    tiers then short tiers in leverage order; off-grid amounts are zeroed and sent to bin
    ``n_bins`` (a scratch slot) after being booked as dropped."""

    bins: IntArray
    amt: FloatArray
    order: list[int]  # the caller's tier order, for putting per-tier results back
    n_tiers: int
    added_long: float
    added_short: float
    dropped_long: float
    dropped_short: float


def _place_new_positions(buckets: Buckets, flow: _Flow, *, edges: FloatArray, params: ModelParams) -> _Placement:
    n_bins = edges.shape[0] - 1
    # Tiers in leverage order: then each bar's long bins rise and its short bins fall with the
    # tier index, so tiers landing in the same bin are neighbours (merged in the accumulation).
    tiers = sorted(params.tiers)
    lev = np.array([t[0] for t in tiers], dtype=np.float64)
    weights = np.array([t[1] for t in tiers], dtype=np.float64)
    order = sorted(range(len(params.tiers)), key=lambda t: params.tiers[t])
    n_tiers = lev.shape[0]
    m = params.mmr
    # Expression order mirrors the spec so the bin a liquidation price lands in is bit-identical
    # to a literal scalar implementation.
    e = (buckets.high + buckets.low + buckets.close) / 3
    gain, s = flow.gain, flow.s
    liq_long = e[:, None] * (1 - 1 / lev) / (1 - m)
    liq_short = e[:, None] * (1 + 1 / lev) / (1 + m)
    bins = _bin_of(edges, np.concatenate((liq_long, liq_short), axis=1))
    ok = (bins >= 0) & (bins < n_bins)
    amt = np.concatenate(((gain * s)[:, None] * weights, (gain * (1 - s))[:, None] * weights), axis=1)
    dropped = np.where(ok, 0.0, amt)
    amt[~ok] = 0.0
    bins[~ok] = n_bins  # the scratch slot
    added = amt.sum(axis=0)
    return _Placement(
        bins=bins,
        amt=amt,
        order=order,
        n_tiers=n_tiers,
        added_long=float(added[:n_tiers].sum()),
        added_short=float(added[n_tiers:].sum()),
        dropped_long=float(dropped[:, :n_tiers].sum()),
        dropped_short=float(dropped[:, n_tiers:].sum()),
    )


def _tier_state_at_end(
    buckets: Buckets, flow: _Flow, placed: _Placement, *, edges: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-tier state after the last bucket, (tiers x bins) per side in the caller's tier order.

    Only needed at the last column, so instead of carrying (tiers x bins) through the loop it is
    derived afterwards: a deposit survives if no later bar traded through its bin, and is scaled by
    every later closing factor.
    """
    n = len(buckets)
    n_bins = edges.shape[0] - 1
    n_tiers, bins, amt = placed.n_tiers, placed.bins, placed.amt
    centers = (edges[:-1] + edges[1:]) / 2
    later = np.ones(n)
    if n > 1:
        later[:-1] = np.multiply.accumulate(flow.keep[:0:-1])[::-1]
    centre_of = np.append(centers, np.nan)[bins]  # NaN for the scratch slot: never alive
    alive = np.concatenate(
        (
            centre_of[:, :n_tiers] < _suffix(buckets.low, np.minimum)[:, None],
            centre_of[:, n_tiers:] > _suffix(buckets.high, np.maximum)[:, None],
        ),
        axis=1,
    )
    tier_flat = (np.arange(2 * n_tiers) * n_bins)[None, :] + bins
    per_tier = np.bincount(tier_flat[alive], weights=(amt * later[:, None])[alive], minlength=2 * n_tiers * n_bins)
    per_tier = per_tier.reshape(2, n_tiers, n_bins)[:, np.argsort(placed.order)]
    return per_tier[0], per_tier[1]


@dataclass(frozen=True, slots=True)
class _Removed:
    swept_long: float
    swept_short: float
    closed_long: float
    closed_short: float


def _merged_deposits(placed: _Placement, n_bins: int) -> tuple[IntArray, FloatArray]:
    """Indices into the flat state (longs, shorts, scratch slot) and the amounts to add there.

    Tiers hitting the same bin in one bar would collide in a fancy-indexed += (only one add
    survives), so their amounts are merged into the first of the neighbours and the others sent to
    the scratch slot, like off-grid amounts.
    """
    n_tiers, bins = placed.n_tiers, placed.bins
    scratch = 2 * n_bins
    flat_idx = np.where(bins == n_bins, scratch, bins)
    flat_idx[:, n_tiers:] += np.where(bins[:, n_tiers:] == n_bins, 0, n_bins)
    flat_amt = placed.amt.copy()
    for side in (0, n_tiers):
        for k in range(side + n_tiers - 1, side, -1):
            dup = (bins[:, k] == bins[:, k - 1]) & (bins[:, k] < n_bins)
            if dup.any():
                flat_amt[dup, k - 1] += flat_amt[dup, k]
                flat_amt[dup, k] = 0.0
                flat_idx[dup, k] = scratch
    return flat_idx, flat_amt


def _accumulate_columns(
    buckets: Buckets, flow: _Flow, placed: _Placement, *, edges: FloatArray, start_ms: int, columns: int
) -> tuple[FloatArray, FloatArray, _Removed]:
    """The one sequential pass: per bucket remove swept positions, apply a close or add the new
    positions, and write the state into its output column.

    Everything that does not depend on the state is prepared as plain lists first; the loop only
    touches the state, which is what keeps it fast.
    """
    n = len(buckets)
    n_bins = edges.shape[0] - 1
    n_tiers, bins, amt = placed.n_tiers, placed.bins, placed.amt
    centers = (edges[:-1] + edges[1:]) / 2
    scratch = 2 * n_bins
    flat_idx, flat_amt = _merged_deposits(placed, n_bins)
    has_gain = (flow.gain > 0).tolist()
    top_add = np.where(bins[:, :n_tiers] < n_bins, bins[:, :n_tiers] + 1, 0).max(axis=1, initial=0).tolist()
    bot_add = bins[:, n_tiers:].min(axis=1, initial=n_bins).tolist()
    sweep_long = np.searchsorted(centers, buckets.low, side="left").tolist()  # first bin with centre >= low
    sweep_short = np.searchsorted(centers, buckets.high, side="right").tolist()  # bins before: centre <= high
    keep_l = flow.keep.tolist()
    has_close = flow.closing.tolist()
    cols = ((buckets.open_time - start_ms) // buckets.bar_ms).tolist()
    # Running side totals give the USD a close removes without summing the state every bar;
    # they drift only by round-off, which is all the bookkeeping promises.
    add_long = amt[:, :n_tiers].sum(axis=1).tolist()
    add_short = amt[:, n_tiers:].sum(axis=1).tolist()
    flat = np.zeros(2 * n_bins + 1)
    lng = flat[:n_bins]
    sht = flat[n_bins:scratch]
    # Written column by column straight into the returned arrays: a staging buffer would double
    # the fresh memory, and first-touch page faults are a visible part of the run time.
    out_long = np.empty((columns, n_bins))
    out_short = np.empty((columns, n_bins))
    swept_long = swept_short = closed_long = closed_short = 0.0
    total_long = total_short = 0.0
    # Watermarks bound the bins that can be non-zero, so a sweep only touches (and sums) the part
    # of the state that actually holds positions: longs below `top`, shorts from `bot` up.
    top = 0
    bot = n_bins
    next_col = 0
    for j in range(n):
        col = cols[j]
        if col > next_col:  # slots with no bucket repeat the state after the previous bucket
            out_long[next_col:col] = lng
            out_short[next_col:col] = sht
        i = sweep_long[j]  # remove the longs price traded down through
        if i < top:
            part = lng[i:top]
            gone = float(part.sum())
            swept_long += gone
            total_long -= gone
            part.fill(0.0)
            top = i
        k = sweep_short[j]  # and the shorts it traded up through
        if k > bot:
            part = sht[bot:k]
            gone = float(part.sum())
            swept_short += gone
            total_short -= gone
            part.fill(0.0)
            bot = k
        if has_close[j]:  # falling OI closes every position pro rata
            g = keep_l[j]
            closed_long += total_long * (1.0 - g)
            closed_short += total_short * (1.0 - g)
            total_long *= g
            total_short *= g
            np.multiply(flat, g, out=flat)
        elif has_gain[j]:  # rising OI places new positions
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
    return out_long, out_short, _Removed(swept_long, swept_short, closed_long, closed_short)


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
