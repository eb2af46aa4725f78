"""Leverage-filtered maps: the per-tier maps of one run add up to the whole on every timeframe, a band
holds the tiers docs/model.md says, and unknown tiers are refused."""

from __future__ import annotations

import numpy as np
import pytest

from heatmaps.engine import TIMEFRAMES, BaseBars, ModelParams, compute_heatmap
from heatmaps.engine.filters import band_leverages, compute_tier_heatmap

DAY_BARS = 288


def random_bars(seed: int, days: int) -> BaseBars:
    rng = np.random.default_rng(seed)
    n = days * DAY_BARS
    keep = rng.random(n) > 0.02  # gaps: missing bars repeat the state
    t = (1_700_000_000_000 // 300_000 * 300_000 + 300_000 * np.arange(n))[keep]
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))[keep]
    high = close * (1 + rng.uniform(0, 0.004, close.shape))
    low = close * (1 - rng.uniform(0, 0.004, close.shape))
    volume = rng.uniform(5, 50, close.shape)
    oi = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.01, close.shape)))
    oi[rng.random(close.shape) < 0.01] = np.nan
    return BaseBars(
        open_time=t,
        high=high,
        low=low,
        close=close,
        volume=volume,
        taker_buy=volume * rng.uniform(0, 1, close.shape),
        oi_value=oi,
    )


@pytest.mark.parametrize("timeframe", list(TIMEFRAMES))
@pytest.mark.parametrize("seed", [1, 2])
def test_per_tier_maps_add_up_to_the_whole(timeframe, seed):
    days = 60 if TIMEFRAMES[timeframe].window_ms <= 30 * 86_400_000 else 400
    bars = random_bars(seed, days)
    params = ModelParams()
    whole = compute_heatmap(bars=bars, timeframe=timeframe, params=params)
    parts = [
        compute_tier_heatmap(bars=bars, timeframe=timeframe, params=params, leverages=[lev]) for lev in params.leverages
    ]
    assert whole.long.sum() > 0 and whole.short.sum() > 0
    scale = max(float(whole.long.max()), float(whole.short.max()))
    for name in ("long", "short", "tier_long", "tier_short"):
        total = sum(getattr(p, name) for p in parts)
        np.testing.assert_allclose(total, getattr(whole, name), rtol=1e-9, atol=scale * 1e-12, err_msg=name)
    for p in parts:  # the same grid and window: one run, filtered
        np.testing.assert_array_equal(p.edges, whole.edges)
        np.testing.assert_array_equal(p.times, whole.times)
        assert p.leverages == whole.leverages
    # not renormalised: each tier carries its own share, none carries the whole
    for p in parts:
        assert p.long.sum() < whole.long.sum()


def test_a_subset_is_the_sum_of_its_tiers_and_all_tiers_is_the_whole_map_exactly():
    bars = random_bars(3, 20)
    params = ModelParams()
    pair = compute_tier_heatmap(bars=bars, timeframe="1w", params=params, leverages=[50.0, 100.0])
    singles = [compute_tier_heatmap(bars=bars, timeframe="1w", params=params, leverages=[lev]) for lev in (50.0, 100.0)]
    np.testing.assert_allclose(pair.long, singles[0].long + singles[1].long, rtol=1e-9, atol=1e-6)
    # the rows of tiers left out are zeros, the kept ones hold USD
    kept = [lev in (50.0, 100.0) for lev in params.leverages]
    assert all((pair.tier_long[i].sum() > 0) == k for i, k in enumerate(kept))
    whole = compute_heatmap(bars=bars, timeframe="1w", params=params)
    everything = compute_tier_heatmap(bars=bars, timeframe="1w", params=params, leverages=params.leverages)
    np.testing.assert_array_equal(everything.long, whole.long)
    np.testing.assert_array_equal(everything.short, whole.short)


def test_bands_hold_the_documented_tiers():
    params = ModelParams()
    assert band_leverages(params=params, band="low") == (5.0, 10.0)
    assert band_leverages(params=params, band="mid") == (25.0,)
    assert band_leverages(params=params, band="high") == (50.0, 100.0)
    # every tier lies in exactly one band
    held = [lev for band in ("low", "mid", "high") for lev in band_leverages(params=params, band=band)]
    assert sorted(held) == sorted(params.leverages)
    with pytest.raises(ValueError, match="band"):
        band_leverages(params=params, band="huge")


def test_unknown_tier_is_refused():
    with pytest.raises(ValueError, match="no 20x tier"):
        compute_tier_heatmap(bars=random_bars(4, 3), timeframe="12h", params=ModelParams(), leverages=[20.0])
