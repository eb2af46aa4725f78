"""A cluster's age and leverage mix, read off the grid: on the worked example and on random runs."""

from __future__ import annotations

import numpy as np

from heatmaps.engine import ModelParams, compute_heatmap, find_clusters
from heatmaps.engine.provenance import cluster_provenance
from tests.heatmaps.engine.test_engine import example_bars
from tests.heatmaps.engine.test_tier_filters import random_bars

EXAMPLE = ModelParams(tiers=((10.0, 0.6), (25.0, 0.4)), mmr=0.004, n_bins=12, pad=0.10)


def test_worked_example_walls_formed_when_built_and_made_of_their_tiers():
    grid = compute_heatmap(bars=example_bars(), timeframe="12h", params=EXAMPLE)
    clusters = find_clusters(grid)
    facts = cluster_provenance(grid, clusters)
    by_peak = {round(c.peak_price, 2): f for c, f in zip(clusters, facts, strict=True)}
    t0 = int(example_bars().open_time[0])
    # The short wall around 110.90 (bin 10): 72 at bar 1, 180 at bar 2, 142.11 at bar 3, 430.11 at bar 5.
    # Half of 430.11 is 215.06: only bar 5 holds that much, so it formed at bar 5.
    wall = by_peak[110.9]
    assert wall["formed_ms"] == t0 + 5 * 300_000
    assert wall["tiers"]["25"] == 0.0  # the 25x shorts went to bins 7 and 8
    assert abs(wall["tiers"]["10"] - 430.1052631578947) < 1e-6
    # The long wall in bin 2 (284.21 → 356.21): above half since bar 1, when 288 was placed.
    longs = next(f for c, f in zip(clusters, facts, strict=True) if c.side == "long" and c.peak_price < 95)
    assert longs["formed_ms"] == t0 + 1 * 300_000
    assert longs["tiers"]["25"] == 0.0 and longs["tiers"]["10"] > 356


def test_tier_mix_adds_up_to_the_cluster_and_it_formed_in_the_window():
    bars = random_bars(7, 20)
    grid = compute_heatmap(bars=bars, timeframe="1w", params=ModelParams())
    clusters = find_clusters(grid, limit=20)
    for c, f in zip(clusters, cluster_provenance(grid, clusters), strict=True):
        assert abs(sum(f["tiers"].values()) - c.usd) <= 1e-6 * c.usd
        assert int(grid.times[0]) <= f["formed_ms"] <= int(grid.times[-1])
        # from the column it formed in on, the wall held at least half of its end size
        lo, hi = np.searchsorted(grid.edges, [c.price_low, c.price_high])
        side = grid.long if c.side == "long" else grid.short
        col = int((f["formed_ms"] - int(grid.times[0])) // grid.timeframe.bar_ms)
        assert (side[col:, lo:hi].sum(axis=1) >= c.usd / 2 - 1e-6).all()
