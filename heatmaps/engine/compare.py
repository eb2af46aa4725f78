"""Two maps compared. Of one run's axes (``compare_maps``): one absolute USD scale for both, their
difference cell for cell, and the clusters one has where the other has none. Of two moments
(``compare_moments``): their windows and price grids differ, so the liquidation levels standing at each
map's end (its newest column) are re-binned onto one price axis spanning both and compared bin for bin.
Pure numpy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from heatmaps.engine.inputs import FloatArray


@dataclass(frozen=True, slots=True)
class Comparison:
    full_usd: float  # one scale for both maps: the 99th percentile of the non-zero cells of either
    diff: FloatArray  # A − B per cell
    diff_full_usd: float  # the 99th percentile of the non-zero |A − B|: the diverging palette's ends
    only_a: list[dict[str, Any]]  # A's clusters whose peak lies in none of B's clusters of its side
    only_b: list[dict[str, Any]]


def _percentile_99(cells: FloatArray) -> float:
    nonzero = cells[cells > 0]
    return float(np.percentile(nonzero, 99)) if nonzero.size else 0.0


def _unmatched(mine: Sequence[dict[str, Any]], theirs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Clusters (the stored shape: side, price_low, price_high, peak_price, usd) whose peak no cluster
    of the other map covers on the same side: a wall one map draws and the other does not."""
    return [
        c
        for c in mine
        if not any(o["side"] == c["side"] and o["price_low"] <= c["peak_price"] <= o["price_high"] for o in theirs)
    ]


def compare_maps(
    *,
    a: FloatArray,
    b: FloatArray,
    a_clusters: Sequence[dict[str, Any]],
    b_clusters: Sequence[dict[str, Any]],
) -> Comparison:
    """``a`` and ``b`` are (columns, bins) USD grids on the same axes."""
    if a.shape != b.shape:
        raise ValueError(f"the maps have different axes ({a.shape} and {b.shape})")
    diff = a.astype(np.float64) - b
    return Comparison(
        full_usd=_percentile_99(np.concatenate((a.ravel(), b.ravel()))),
        diff=diff,
        diff_full_usd=_percentile_99(np.abs(diff)),
        only_a=_unmatched(a_clusters, b_clusters),
        only_b=_unmatched(b_clusters, a_clusters),
    )


# ---- two moments: the liquidation levels at each map's end, on one price axis ----------------------


def rebin(*, usd: FloatArray, edges: FloatArray, target_edges: FloatArray) -> FloatArray:
    """USD per bin of ``edges`` moved onto ``target_edges``, each source bin's USD split by overlap
    (spread evenly over its bin): the cumulative USD is piecewise linear in price and read at the
    target edges. Every dollar inside the target's span is kept, so a target spanning the source
    conserves the total."""
    usd = np.asarray(usd, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    target_edges = np.asarray(target_edges, dtype=np.float64)
    if edges.ndim != 1 or usd.shape != (edges.shape[0] - 1,):
        raise ValueError(f"{usd.shape[0]} bins need {usd.shape[0] + 1} edges, not {edges.shape[0]}")
    if np.any(np.diff(edges) <= 0) or np.any(np.diff(target_edges) <= 0):
        raise ValueError("edges must increase")
    cumulative = np.concatenate(([0.0], np.cumsum(usd)))
    return np.diff(np.interp(target_edges, edges, cumulative))


def common_edges(*, a_edges: FloatArray, b_edges: FloatArray, max_bins: int = 2000) -> FloatArray:
    """One price axis spanning both: the finer of the two bin widths, at most ``max_bins`` bins."""
    lo = float(min(a_edges[0], b_edges[0]))
    hi = float(max(a_edges[-1], b_edges[-1]))
    width = float(min(np.diff(a_edges).min(), np.diff(b_edges).min()))
    n_bins = int(min(max_bins, max(1, np.ceil((hi - lo) / width - 1e-9))))
    return np.linspace(lo, hi, n_bins + 1)


@dataclass(frozen=True, slots=True)
class MomentComparison:
    edges: FloatArray  # the common price axis, bins + 1 edges
    a_long: FloatArray  # USD per common bin of A's newest column
    a_short: FloatArray
    b_long: FloatArray
    b_short: FloatArray
    full_usd: float  # one absolute scale for both profiles: the largest bin of either, either side
    diff_full_usd: float  # the largest |A − B| of a bin
    only_a: list[dict[str, Any]]  # A's clusters whose peak lies in none of B's clusters of its side
    only_b: list[dict[str, Any]]

    @property
    def diff_long(self) -> FloatArray:
        return self.a_long - self.b_long

    @property
    def diff_short(self) -> FloatArray:
        return self.a_short - self.b_short


def compare_moments(
    *,
    a_edges: FloatArray,
    a_long: FloatArray,
    a_short: FloatArray,
    b_edges: FloatArray,
    b_long: FloatArray,
    b_short: FloatArray,
    a_clusters: Sequence[dict[str, Any]],
    b_clusters: Sequence[dict[str, Any]],
    max_bins: int = 2000,
) -> MomentComparison:
    """Two maps' end columns (the liquidation levels standing at each moment; each on its own price
    grid) re-binned onto one axis spanning both, and the clusters standing at one moment and not the other."""
    edges = common_edges(a_edges=a_edges, b_edges=b_edges, max_bins=max_bins)
    profiles = [
        rebin(usd=usd, edges=src, target_edges=edges)
        for usd, src in ((a_long, a_edges), (a_short, a_edges), (b_long, b_edges), (b_short, b_edges))
    ]
    stacked = np.stack(profiles)
    diffs = np.abs(stacked[0:2] - stacked[2:4])
    return MomentComparison(
        edges=edges,
        a_long=profiles[0],
        a_short=profiles[1],
        b_long=profiles[2],
        b_short=profiles[3],
        full_usd=float(stacked.max()) if stacked.size else 0.0,
        diff_full_usd=float(diffs.max()) if diffs.size else 0.0,
        only_a=_unmatched(a_clusters, b_clusters),
        only_b=_unmatched(b_clusters, a_clusters),
    )
