"""Model v2's run: every tier's state carried apart in one pass, each tier with its own decay.

The model is linear, so this equals the sum of one ``run_model`` per tier (each with its tier's
``decay``), which is how docs/model.md defines it and how the tests check it. Carrying the tiers as
rows of one state makes a bucket cost one pass of numpy calls for all tiers instead of one per tier:
the sweeps, the shrink and the deposits act on every row at once, and each column is the rows' sum.
Model v1's run (``run.run_model``) is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from heatmaps.engine.flow import open_interest_flow, sweep_prices
from heatmaps.engine.inputs import Buckets, FloatArray, ModelParams
from heatmaps.engine.run import MassBalance, ModelRun, _output_window, _place_new_positions


@dataclass(frozen=True, slots=True)
class _Shrink:
    """Per bucket and tier (leverage order): the fraction kept (``keep``, close times decay), the
    part of what goes that is a close (``close_share``), and whether the bucket shrinks anything."""

    keep: FloatArray  # (buckets, tiers)
    close_share: FloatArray  # (buckets, tiers)
    shrinking: list[bool]


def _shrink(close_keep: FloatArray, closing: NDArray[np.bool_], decays: list[FloatArray | None]) -> _Shrink:
    n = close_keep.shape[0]
    keep = np.empty((n, len(decays)))
    for t, decay in enumerate(decays):
        keep[:, t] = close_keep if decay is None else close_keep * decay
    share = np.ones_like(keep)
    gone = keep < 1
    np.divide((1 - close_keep)[:, None] * np.ones_like(keep), 1 - keep, out=share, where=gone)
    return _Shrink(keep=keep, close_share=share, shrinking=(closing | gone.any(axis=1)).tolist())


def run_tiers(
    *,
    buckets: Buckets,
    edges: FloatArray,
    params: ModelParams,
    decays: list[FloatArray | None],
    start_ms: int,
    columns: int,
    out: FloatArray,
    sweep_low: FloatArray | None = None,
    sweep_high: FloatArray | None = None,
) -> ModelRun:
    """``run_model`` for several tiers with a decay each (``decays[t]`` for ``params.tiers[t]``, None
    for none), writing the summed columns into ``out`` (2, columns, n_bins)."""
    params.validate()
    if len(decays) != len(params.tiers):
        raise ValueError(f"{len(decays)} decay series for {len(params.tiers)} tiers")
    start_ms, columns = _output_window(buckets, edges, start_ms=start_ms, columns=columns)
    n_bins = edges.shape[0] - 1
    if out.shape != (2, columns, n_bins):
        raise ValueError(f"out has shape {out.shape}, expected {(2, columns, n_bins)}")
    n = len(buckets)
    flow = open_interest_flow(buckets)
    low, high = sweep_prices(buckets, sweep_low, sweep_high)
    placed = _place_new_positions(buckets, flow, edges=edges, params=params)
    n_tiers, order = placed.n_tiers, placed.order
    for t, decay in enumerate(decays):
        if decay is not None and (decay.shape != (n,) or not ((decay >= 0) & (decay <= 1)).all()):
            raise ValueError(f"decay of tier {t} must hold {n} factors between 0 and 1")
    shrink = _shrink(flow.keep, flow.closing, [decays[t] for t in order])  # in leverage order

    # The state: rows (side, tier) of n_bins, then a scratch slot for off-grid deposits.
    size = 2 * n_tiers * n_bins
    flat = np.zeros(size + 1)
    state = flat[:size].reshape(2, n_tiers, n_bins)
    lng, sht = state[0], state[1]
    bins = placed.bins
    row_base = (np.arange(2 * n_tiers) * n_bins)[None, :]
    flat_idx = np.where(bins == n_bins, size, row_base + bins)
    centers = (edges[:-1] + edges[1:]) / 2
    # Per-tier USD held, (side, tier), kept up to date so the books need no sum of the state; the
    # totals before each shrink are recorded and the shrinks booked after the pass.
    totals = np.zeros((2, n_tiers))
    before = np.zeros((n, 2, n_tiers))
    deposit_totals = placed.amt.reshape(n, 2, n_tiers)
    steps = zip(
        ((buckets.open_time - start_ms) // buckets.bar_ms).tolist(),
        np.searchsorted(centers, low, side="left").tolist(),
        np.searchsorted(centers, high, side="right").tolist(),
        shrink.shrinking,
        list(shrink.keep[:, :, None]),  # (tiers, 1): scales each tier's rows of both sides
        list(shrink.keep[:, None, :]),  # (1, tiers): scales the totals
        (flow.gain > 0).tolist(),
        list(flat_idx),
        list(placed.amt),
        list(deposit_totals),
        np.where(bins[:, :n_tiers] < n_bins, bins[:, :n_tiers] + 1, 0).max(axis=1, initial=0).tolist(),
        bins[:, n_tiers:].min(axis=1, initial=n_bins).tolist(),
        strict=True,
    )
    summed = np.empty((2, n_bins))  # the state summed over tiers, for slots with no bucket
    column = list(out.transpose(1, 0, 2))
    add = np.add.reduce
    swept_long = np.zeros(n_tiers)
    swept_short = np.zeros(n_tiers)
    top, bot, next_col = 0, n_bins, 0
    for j, (col, i, k, shrinking, g_rows, g_totals, gain, idx, dep, dep_tot, top_add, bot_add) in enumerate(steps):
        if col > next_col:  # slots with no bucket repeat the state after the previous bucket
            add(state, axis=1, out=summed)
            out[:, next_col:col] = summed[:, None, :]
        if i < top:
            part = lng[:, i:top]
            gone = add(part, axis=1)
            swept_long += gone
            totals[0] -= gone
            part.fill(0.0)
            top = i
        if k > bot:
            part = sht[:, bot:k]
            gone = add(part, axis=1)
            swept_short += gone
            totals[1] -= gone
            part.fill(0.0)
            bot = k
        if shrinking:
            before[j] = totals
            totals *= g_totals
            np.multiply(state, g_rows, out=state)
        if gain:
            flat[idx] += dep
            totals += dep_tot
            if top_add > top:
                top = top_add
            if bot_add < bot:
                bot = bot_add
        if col >= 0:
            add(state, axis=1, out=column[col])
            next_col = col + 1
    if next_col < columns:
        add(state, axis=1, out=summed)
        out[:, next_col:] = summed[:, None, :]
    removed = before * (1 - shrink.keep)[:, None, :]
    closed = (removed * shrink.close_share[:, None, :]).sum(axis=(0, 2))
    decayed = (removed * (1 - shrink.close_share)[:, None, :]).sum(axis=(0, 2))
    back = np.argsort(order)
    return ModelRun(
        long=out[0],
        short=out[1],
        tier_long=lng[back].copy(),
        tier_short=sht[back].copy(),
        balance=MassBalance(
            added_long=placed.added_long,
            added_short=placed.added_short,
            swept_long=float(swept_long.sum()),
            swept_short=float(swept_short.sum()),
            closed_long=float(closed[0]),
            closed_short=float(closed[1]),
            dropped_long=placed.dropped_long,
            dropped_short=placed.dropped_short,
            decayed_long=float(decayed[0]),
            decayed_short=float(decayed[1]),
        ),
    )
