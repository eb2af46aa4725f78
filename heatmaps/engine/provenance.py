"""Where a map's clusters come from: when each formed and the leverage tiers it is made of.

Read off the grid alone, so it costs one pass over each cluster's bins: a cluster *formed* at the first
column from which its bins held at least half of their USD at the end without falling below half
again (a wall that was built, swept and rebuilt counts from the rebuild). Its *tiers* are the end
state per tier summed over its bins, the same figures the stacked liquidation map draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from heatmaps.engine.model import HeatmapGrid


def cluster_provenance(grid: HeatmapGrid, clusters: Sequence[Any]) -> list[dict[str, Any]]:
    """Per cluster (the engine's ``Cluster``s, in order): ``formed_ms`` (the start of the column it
    formed in; None for an empty one) and ``tiers``, USD per leverage (``"50"`` → USD) at the end."""
    out = []
    edges = grid.edges
    for c in clusters:
        lo = int(np.searchsorted(edges, c.price_low, side="left"))
        hi = int(np.searchsorted(edges, c.price_high, side="left"))
        side = grid.long if c.side == "long" else grid.short
        tiers = grid.tier_long if c.side == "long" else grid.tier_short
        series = side[:, lo:hi].sum(axis=1)
        final = float(series[-1])
        formed = None
        if final > 0:
            below = np.flatnonzero(series < final / 2)
            first = int(below[-1]) + 1 if below.size else 0
            formed = int(grid.times[min(first, series.shape[0] - 1)])
        out.append(
            {
                "formed_ms": formed,
                "tiers": {f"{lev:g}": float(tiers[i, lo:hi].sum()) for i, lev in enumerate(grid.leverages)},
            }
        )
    return out
