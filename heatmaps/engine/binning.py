"""Array look-ups of the model's run: the grid bin of a price, and the extreme of what comes later.

Kept apart from ``run`` so the run reads as the model's steps; both are vectorised and exact (see each).
"""

from __future__ import annotations

import numpy as np

from heatmaps.engine.inputs import FloatArray, IntArray


def bin_of(edges: FloatArray, prices: FloatArray) -> IntArray:
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


def suffix_extreme(values: FloatArray, op: np.ufunc) -> FloatArray:
    """``out[j]`` = min (``np.minimum``) or max (``np.maximum``) of ``values[j+1:]``.

    The last entry, with nothing after it, is +inf for min and -inf for max, so nothing later
    ever sweeps what the last bar left.
    """
    out = np.empty_like(values)
    if values.size:
        out[-1] = np.inf if op is np.minimum else -np.inf
        out[:-1] = op.accumulate(values[:0:-1])[::-1]
    return out
