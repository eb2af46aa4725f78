"""Views derived from a heat map's last column: liquidation map, clusters, colour scale (spec §6).

These are definitions rather than bit-exact contracts, so they favour clarity over speed; they
all run on one column (n_bins values) or one grid and are cheap either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from heatmaps.engine.inputs import FloatArray
from heatmaps.engine.model import HeatmapGrid

View = Literal["both", "long", "short"]


@dataclass(frozen=True, slots=True)
class LiquidationMap:
    """Cumulative liquidations walking away from the current price, at the last column.

    ``cum_long[b]`` is the USD of longs liquidated if price falls from ``price`` to ``prices[b]``
    (zero at and above ``price``); ``cum_short[b]`` the USD of shorts liquidated if price rises to
    ``prices[b]`` (zero at and below ``price``). ``tier_long``/``tier_short`` are the per-leverage
    bars, shape (n_tiers, n_bins), in the order of ``leverages``.
    """

    price: float
    prices: FloatArray
    cum_long: FloatArray
    cum_short: FloatArray
    long: FloatArray
    short: FloatArray
    tier_long: FloatArray
    tier_short: FloatArray
    leverages: tuple[float, ...]

    @property
    def total_long(self) -> float:
        return float(self.cum_long[0]) if self.cum_long.size else 0.0

    @property
    def total_short(self) -> float:
        return float(self.cum_short[-1]) if self.cum_short.size else 0.0


def liquidation_map(grid: HeatmapGrid) -> LiquidationMap:
    price = grid.current_price
    centers = grid.prices
    long_col = grid.long[-1]
    short_col = grid.short[-1]
    below = centers < price
    above = centers > price
    # Longs: sum from each bin up to just below P, i.e. a reversed cumulative sum.
    cum_long = np.cumsum(np.where(below, long_col, 0.0)[::-1])[::-1] * below
    cum_short = np.cumsum(np.where(above, short_col, 0.0)) * above
    return LiquidationMap(
        price=price,
        prices=centers,
        cum_long=cum_long,
        cum_short=cum_short,
        long=long_col.copy(),
        short=short_col.copy(),
        tier_long=grid.tier_long,
        tier_short=grid.tier_short,
        leverages=grid.leverages,
    )


@dataclass(frozen=True, slots=True)
class Cluster:
    side: Literal["long", "short"]  # longs liquidated below the price, shorts above
    price_low: float  # lower edge of the zone's lowest bin
    price_high: float  # upper edge of the zone's highest bin
    peak_price: float  # centre of the zone's largest bin
    usd: float
    distance_pct: float  # (peak - current price) / current price x 100; negative below


def find_clusters(grid: HeatmapGrid, *, limit: int = 20) -> list[Cluster]:
    """Zones of adjacent non-zero bins of ``long + short`` at the last column, largest USD first.

    A zone is also cut at the current price so each cluster has a single side: after the end
    bucket's sweep longs only remain below it and shorts above, but a bar narrower than a bin can
    leave a long bin and a short bin side by side.
    """
    if limit < 1:
        return []
    price = grid.current_price
    centers = grid.prices
    edges = grid.edges
    values = grid.long[-1] + grid.short[-1]
    nonzero = values > 0
    side_of = centers >= price  # False: long side, True: short side
    starts_new = nonzero & ~np.concatenate(([False], nonzero[:-1] & (side_of[1:] == side_of[:-1])))
    zone_starts = np.flatnonzero(starts_new)
    clusters: list[Cluster] = []
    for start in zone_starts.tolist():
        stop = start
        while stop + 1 < values.size and nonzero[stop + 1] and side_of[stop + 1] == side_of[start]:
            stop += 1
        zone = values[start : stop + 1]
        peak = start + int(np.argmax(zone))
        peak_price = float(centers[peak])
        clusters.append(
            Cluster(
                side="short" if side_of[start] else "long",
                price_low=float(edges[start]),
                price_high=float(edges[stop + 1]),
                peak_price=peak_price,
                usd=float(zone.sum()),
                distance_pct=(peak_price - price) / price * 100 if price else math.nan,
            )
        )
    clusters.sort(key=lambda c: c.usd, reverse=True)
    return clusters[:limit]


@dataclass(frozen=True, slots=True)
class ColourScale:
    full_usd: float  # USD shown at full intensity (0 when the view is empty)
    pinned: bool  # True when the user fixed full_usd, so maps are comparable


def colour_scale(grid: HeatmapGrid, *, pinned_usd: float | None = None, view: View = "both") -> ColourScale:
    """Full-intensity USD: the pinned value, else the 99th percentile of the view's non-zero cells.

    A percentile rather than the maximum, because one huge cell would otherwise wash out the rest.
    """
    if pinned_usd is not None:
        if not (math.isfinite(pinned_usd) and pinned_usd > 0):
            raise ValueError("pinned colour scale must be a positive USD amount")
        return ColourScale(full_usd=float(pinned_usd), pinned=True)
    cells = grid.long + grid.short if view == "both" else grid.long if view == "long" else grid.short
    nonzero = cells[cells > 0]
    full = float(np.percentile(nonzero, 99)) if nonzero.size else 0.0
    return ColourScale(full_usd=full, pinned=False)
