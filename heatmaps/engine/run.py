"""One run of model v1 over a sequence of buckets: the state stepped bucket by bucket.

``run_model`` is the contract of the model specification (bit-exact); its named steps are the
open-interest flow, placing new positions at their liquidation prices, the per-tier state at the
end, and the one sequential pass that removes swept positions, applies closes, adds new positions
and writes each output column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heatmaps.engine.binning import bin_of, suffix_extreme
from heatmaps.engine.flow import Flow, open_interest_flow, sweep_prices, with_decay
from heatmaps.engine.inputs import Buckets, FloatArray, IntArray, ModelParams


@dataclass(frozen=True, slots=True)
class MassBalance:
    """USD booked over the whole run (warm-up included), per side.

    ``added - swept - closed - decayed`` equals the total of the final state up to round-off;
    ``dropped`` is new flow whose liquidation price fell outside the grid and was never added;
    ``decayed`` is what a run with ``decay`` (model v2) let fade, zero otherwise.
    """

    added_long: float = 0.0
    added_short: float = 0.0
    swept_long: float = 0.0
    swept_short: float = 0.0
    closed_long: float = 0.0
    closed_short: float = 0.0
    dropped_long: float = 0.0
    dropped_short: float = 0.0
    decayed_long: float = 0.0
    decayed_short: float = 0.0


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
    out: FloatArray | None = None,
    decay: FloatArray | None = None,
    sweep_low: FloatArray | None = None,
    sweep_high: FloatArray | None = None,
) -> ModelRun:
    """Run model v1 over ``buckets`` (all of them, in order: the run) on the grid ``edges``.

    Output column ``i`` is the state after the last bucket whose ``open_time`` is at or before
    ``start_ms + i * bar_ms`` (zeros if none): buckets before ``start_ms`` are warm-up, and an
    empty slot repeats the previous state. Defaults: start at the first bucket, end at the last.
    ``out``, if given, is the (2, columns, n_bins) array the long and short columns are written
    into (several runs can then share one allocation, see ``compute_all_timeframes``).

    The steps: the open-interest flow of every bucket, where its new positions land (per tier),
    the per-tier state at the end, then one pass over the buckets that removes swept positions,
    applies closes, adds the new positions and writes each column.

    Model v2's run adds, per bucket, ``decay`` (the factor every position keeps before the bucket's
    new positions are added, applied like a close and booked apart) and the prices that sweep,
    ``sweep_low``/``sweep_high`` (default the buckets' low and high). Left at None, the run is
    model v1's, bit for bit.
    """
    params.validate()
    start_ms, columns = _output_window(buckets, edges, start_ms=start_ms, columns=columns)
    flow = with_decay(open_interest_flow(buckets), decay)
    low, high = sweep_prices(buckets, sweep_low, sweep_high)
    placed = _place_new_positions(buckets, flow, edges=edges, params=params)
    tier_long, tier_short = _tier_state_at_end(flow, placed, edges=edges, low=low, high=high)
    n_bins = edges.shape[0] - 1
    if out is None:
        out = np.empty((2, columns, n_bins))
    elif out.shape != (2, columns, n_bins):
        raise ValueError(f"out has shape {out.shape}, expected {(2, columns, n_bins)}")
    removed = _accumulate_columns(
        buckets, flow, placed, edges=edges, start_ms=start_ms, columns=columns, out=out, low=low, high=high
    )
    return ModelRun(
        long=out[0],
        short=out[1],
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
            decayed_long=removed.decayed_long,
            decayed_short=removed.decayed_short,
        ),
    )


def run_end_state(
    *,
    buckets: Buckets,
    edges: FloatArray,
    params: ModelParams,
    decay: FloatArray | None = None,
    sweep_low: FloatArray | None = None,
    sweep_high: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """The per-tier state after the last bucket of the run ``buckets`` on the grid ``edges``.

    Equal, up to round-off, to ``run_model(...).tier_long`` / ``tier_short``: the same flow and
    placement, with the end state derived in closed form and no output columns written. A
    walk-forward backtest needs the end state at thousands of points in time; this costs one
    vectorised pass over the run instead of the sequential one. ``decay`` and the sweep prices as
    in ``run_model``.
    """
    params.validate()
    if edges.shape[0] - 1 < 1:
        raise ValueError("edges must hold at least two values")
    flow = with_decay(open_interest_flow(buckets), decay)
    low, high = sweep_prices(buckets, sweep_low, sweep_high)
    placed = _place_new_positions(buckets, flow, edges=edges, params=params)
    return _tier_state_at_end(flow, placed, edges=edges, low=low, high=high)


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


def _place_new_positions(buckets: Buckets, flow: Flow, *, edges: FloatArray, params: ModelParams) -> _Placement:
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
    bins = bin_of(edges, np.concatenate((liq_long, liq_short), axis=1))
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
    flow: Flow, placed: _Placement, *, edges: FloatArray, low: FloatArray, high: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-tier state after the last bucket, (tiers x bins) per side in the caller's tier order.

    Only needed at the last column, so instead of carrying (tiers x bins) through the loop it is
    derived afterwards: a deposit survives if no later bar traded through its bin, and is scaled by
    every later closing factor.
    """
    n = low.shape[0]
    n_bins = edges.shape[0] - 1
    n_tiers, bins, amt = placed.n_tiers, placed.bins, placed.amt
    centers = (edges[:-1] + edges[1:]) / 2
    later = np.ones(n)
    if n > 1:
        later[:-1] = np.multiply.accumulate(flow.keep[:0:-1])[::-1]
    centre_of = np.append(centers, np.nan)[bins]  # NaN for the scratch slot: never alive
    alive = np.concatenate(
        (
            centre_of[:, :n_tiers] < suffix_extreme(low, np.minimum)[:, None],
            centre_of[:, n_tiers:] > suffix_extreme(high, np.maximum)[:, None],
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
    decayed_long: float
    decayed_short: float


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
    buckets: Buckets,
    flow: Flow,
    placed: _Placement,
    *,
    edges: FloatArray,
    start_ms: int,
    columns: int,
    out: FloatArray,
    low: FloatArray,
    high: FloatArray,
) -> _Removed:
    """The one sequential pass: per bucket remove swept positions, apply a close or add the new
    positions, and write the state into its column of ``out`` (2 x columns x bins: longs, shorts).

    Everything that does not depend on the state is prepared as plain lists first; the loop only
    touches the state, which is what keeps it fast.
    """
    n_bins = edges.shape[0] - 1
    n_tiers, bins, amt = placed.n_tiers, placed.bins, placed.amt
    centers = (edges[:-1] + edges[1:]) / 2
    flat_idx, flat_amt = _merged_deposits(placed, n_bins)
    gaining = flow.gain > 0
    # Per bucket, in the loop's order: nothing is looked up by index inside the loop.
    steps = zip(
        ((buckets.open_time - start_ms) // buckets.bar_ms).tolist(),
        np.searchsorted(centers, low, side="left").tolist(),  # first long bin with centre >= low
        np.searchsorted(centers, high, side="right").tolist(),  # short bins before: centre <= high
        flow.closing.tolist(),
        flow.keep.tolist(),
        [1.0] * len(buckets) if flow.close_share is None else flow.close_share.tolist(),
        gaining.tolist(),
        list(flat_idx),
        list(flat_amt),
        # Running side totals give the USD a close removes without summing the state every bar;
        # they drift only by round-off, which is all the bookkeeping promises.
        amt[:, :n_tiers].sum(axis=1).tolist(),
        amt[:, n_tiers:].sum(axis=1).tolist(),
        np.where(bins[:, :n_tiers] < n_bins, bins[:, :n_tiers] + 1, 0).max(axis=1, initial=0).tolist(),
        bins[:, n_tiers:].min(axis=1, initial=n_bins).tolist(),
        strict=True,
    )
    # Longs, shorts and a scratch slot in one array: a close scales both sides in one call and one
    # copy writes both sides' column. The scratch slot takes off-grid and merged deposits and is
    # never read.
    flat = np.zeros(2 * n_bins + 1)
    lng = flat[:n_bins]
    sht = flat[n_bins : 2 * n_bins]
    both = flat[: 2 * n_bins].reshape(2, n_bins)
    column = list(out.transpose(1, 0, 2))  # column c of both sides, a (2, n_bins) view
    add = np.add.reduce
    factor = np.empty(())  # a close's keep: a 0-d array multiplies faster than a Python float
    swept_long = swept_short = closed_long = closed_short = decayed_long = decayed_short = 0.0
    total_long = total_short = 0.0
    # Watermarks bound the bins that can be non-zero, so a sweep only touches (and sums) the part
    # of the state that actually holds positions: longs below `top`, shorts from `bot` up.
    top = 0
    bot = n_bins
    next_col = 0
    for col, i, k, closing, g, c, gain, idx, dep, add_long, add_short, top_add, bot_add in steps:
        if col > next_col:  # slots with no bucket repeat the state after the previous bucket
            out[:, next_col:col] = both[:, None, :]
        if i < top:  # remove the longs price traded down through
            part = lng[i:top]
            gone = float(add(part))
            swept_long += gone
            total_long -= gone
            part.fill(0.0)
            top = i
        if k > bot:  # and the shorts it traded up through
            part = sht[bot:k]
            gone = float(add(part))
            swept_short += gone
            total_short -= gone
            part.fill(0.0)
            bot = k
        if closing:  # falling OI (or decay) shrinks every position pro rata
            gone_long = total_long * (1.0 - g)
            gone_short = total_short * (1.0 - g)
            # c is 1.0 without decay: the books are then model v1's to the bit.
            closed_long += gone_long * c
            closed_short += gone_short * c
            decayed_long += gone_long - gone_long * c
            decayed_short += gone_short - gone_short * c
            total_long *= g
            total_short *= g
            factor[()] = g
            np.multiply(flat, factor, out=flat)
        if gain:  # rising OI places new positions (never in the same bucket as a close, without decay)
            flat[idx] += dep
            total_long += add_long
            total_short += add_short
            if top_add > top:
                top = top_add
            if bot_add < bot:
                bot = bot_add
        if col >= 0:
            column[col][...] = both
            next_col = col + 1
    if next_col < columns:
        out[:, next_col:] = both[:, None, :]
    return _Removed(swept_long, swept_short, closed_long, closed_short, decayed_long, decayed_short)
