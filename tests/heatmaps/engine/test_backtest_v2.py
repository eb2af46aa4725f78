"""Model v2 in the walk-forward backtest: the map at each step is compute_heatmap_v2's on the data up
to it (decay and mark-price sweeps included), and a v2 walk is scored like v1's on the same steps."""

from __future__ import annotations

import numpy as np
import pytest

from heatmaps.engine import TIMEFRAMES, BaseBars, Buckets, aggregate, carry_open_interest, find_clusters
from heatmaps.engine.backtest import backtest_variants
from heatmaps.engine.backtest.v2 import v2_bars, v2_column_at
from heatmaps.engine.model_v2 import ModelV2Params, TierV2, compute_heatmap_v2
from tests.heatmaps.engine.magnet_series import random_walk

HOUR = 3_600_000
PARAMS = ModelV2Params(
    tiers=(TierV2(5.0, 0.1, 720.0), TierV2(10.0, 0.25, 240.0), TierV2(25.0, 0.3, 64.0), TierV2(50.0, 0.2, 24.0),
           TierV2(100.0, 0.15, 8.0)),
    mmr=0.005,
)  # fmt: skip


@pytest.fixture(scope="module")
def walk() -> Buckets:
    """Twelve days of walk, mark candles on the later two thirds (a band inside each bar's range)."""
    bars = random_walk(12, seed=7)
    known = np.arange(len(bars)) >= len(bars) // 3
    mid = (bars.high + bars.low) / 2
    return BaseBars.from_arrays(
        open_time=bars.open_time, high=bars.high, low=bars.low, close=bars.close, volume=bars.volume,
        taker_buy=bars.taker_buy, oi_value=bars.oi_value,
        mark_high=np.where(known, (bars.high + mid) / 2, np.nan), mark_low=np.where(known, (bars.low + mid) / 2, np.nan),
    )  # fmt: skip


@pytest.mark.parametrize("timeframe", ["12h", "24h", "3d"])
def test_v2_map_at_each_step_is_compute_heatmap_v2_on_the_data_up_to_it(walk: Buckets, timeframe: str) -> None:
    tf = TIMEFRAMES[timeframe]
    buckets = aggregate(carry_open_interest(v2_bars(walk)), tf.bar_ms)
    draw = v2_column_at(PARAMS)
    start = int(walk.open_time[0]) + 2 * tf.window_ms
    checked = 0
    for t in range(start, int(walk.open_time[-1]), 7 * tf.bar_ms * 5):
        mine = draw(buckets=buckets, timeframe=tf, params=PARAMS.v1_params(), t_ms=t)
        upto = walk.slice(0, int(np.searchsorted(walk.open_time, t, side="left")))
        ref = compute_heatmap_v2(bars=upto, timeframe=tf, params=PARAMS)
        assert mine is not None and mine.model_version == "v2"
        np.testing.assert_array_equal(mine.edges, ref.edges)
        np.testing.assert_allclose(mine.long[-1], ref.long[-1], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(mine.short[-1], ref.short[-1], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(mine.tier_long, ref.tier_long, rtol=1e-9, atol=1e-6)
        assert [(c.side, c.peak_price) for c in find_clusters(mine)] == [
            (c.side, c.peak_price) for c in find_clusters(ref)
        ]
        checked += 1
    assert checked >= 5


def test_a_v2_walk_shares_v1s_steps_and_differs_in_its_maps(walk: Buckets) -> None:
    v1 = backtest_variants(bars=walk, timeframe="24h", every_ms=HOUR, horizon_ms=12 * HOUR, bootstrap=0)[0]
    v2 = backtest_variants(
        bars=v2_bars(walk), timeframe="24h", params=PARAMS.v1_params(), every_ms=HOUR, horizon_ms=12 * HOUR,
        column_at=v2_column_at(PARAMS), bootstrap=0,
    )[0]  # fmt: skip
    np.testing.assert_array_equal(v1.steps.time_ms, v2.steps.time_ms)
    np.testing.assert_array_equal(v1.steps.price, v2.steps.price)
    assert not np.allclose(v1.steps.usd_upper, v2.steps.usd_upper, equal_nan=True)  # decay makes other walls
