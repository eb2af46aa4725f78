"""Filtered maps of one run: the positions of some leverage tiers only.

The model is linear in the USD it places: a sweep empties bins, a fall in open interest scales every
position by the same factor, new positions are added. So the map of a subset of tiers is the run with
only those tiers' deposits, at their own weights (not renormalised), and the maps of the tiers of one
run add up to the whole, up to floating-point round-off. Built on the engine's public functions only;
model v1's own run is untouched.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection

import numpy as np

from heatmaps.engine.inputs import Buckets, ModelParams, Timeframe
from heatmaps.engine.model import HeatmapGrid, compute_heatmap
from heatmaps.engine.run import MassBalance

# Leverage bands by the tiers they hold (the same cut the backtest's league table ranks): low is at
# most 10x, mid above 10x and below 50x, high 50x and above.
BANDS: dict[str, tuple[float, float]] = {
    "low": (1.0, 10.0),
    "mid": (10.000001, 49.999999),
    "high": (50.0, math.inf),
}


def band_leverages(*, params: ModelParams, band: str) -> tuple[float, ...]:
    """The model's tiers a band holds (possibly none); ``ValueError`` for an unknown band."""
    if band not in BANDS:
        raise ValueError(f"unknown leverage band {band!r}; choose from {', '.join(BANDS)}")
    lo, hi = BANDS[band]
    return tuple(lev for lev in params.leverages if lo <= lev <= hi)


def compute_tier_heatmap(
    *, bars: Buckets, timeframe: Timeframe | str, params: ModelParams, leverages: Collection[float] | None
) -> HeatmapGrid:
    """The map of the positions of the tiers ``leverages`` only (None or every tier: the whole map,
    exactly ``compute_heatmap``). The grid, window and sweeps are the whole map's; each kept tier keeps
    its weight. The per-tier end state keeps every tier's row (zeros for those left out), so a stacked
    liquidation map still lists the model's tiers."""
    params = params.validate()
    keep = set(leverages) if leverages is not None else set(params.leverages)
    unknown = keep - set(params.leverages)
    if unknown:
        raise ValueError(f"the model has no {', '.join(f'{lev:g}x' for lev in sorted(unknown))} tier")
    if keep == set(params.leverages):
        return compute_heatmap(bars=bars, timeframe=timeframe, params=params)
    kept = [(lev, w) for lev, w in params.tiers if lev in keep]
    total = math.fsum(w for _, w in kept)
    # The run takes weights that sum to 1: run the kept tiers renormalised, then scale the USD back
    # by their share of the whole (the run is linear in it). A subset of weight 0 places nothing.
    sub = ModelParams(
        tiers=tuple((lev, w / total) for lev, w in kept)
        if total > 0
        else tuple((lev, 1 / len(kept)) for lev, _ in kept),
        mmr=params.mmr,
        n_bins=params.n_bins,
        pad=params.pad,
    )
    grid = compute_heatmap(bars=bars, timeframe=timeframe, params=sub)
    factor = total
    rows = {lev: i for i, lev in enumerate(sub.leverages)}
    tier_long = np.zeros((len(params.tiers), grid.tier_long.shape[1]))
    tier_short = np.zeros_like(tier_long)
    for i, lev in enumerate(params.leverages):
        if lev in rows:
            tier_long[i] = grid.tier_long[rows[lev]] * factor
            tier_short[i] = grid.tier_short[rows[lev]] * factor
    balance = MassBalance(**{f.name: getattr(grid.balance, f.name) * factor for f in dataclasses.fields(MassBalance)})
    return dataclasses.replace(
        grid,
        params=params,
        long=grid.long * factor,
        short=grid.short * factor,
        tier_long=tier_long,
        tier_short=tier_short,
        balance=balance,
    )
