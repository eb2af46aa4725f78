"""Two maps of one run's axes compared: one absolute USD scale for both, their difference, and the
clusters one has where the other has none. Pure numpy."""

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
