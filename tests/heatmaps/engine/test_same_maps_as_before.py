"""The engine gives exactly the maps it gave before its speed-up (docs/model.md is a bit-exact contract).

``previous_engine`` is the engine as it was (separate output arrays per map, the pass as it was);
every array of every map, and the books, must be bit-identical: on random bars of the property
tests, on two years of bars with gaps, missing open interest and wild swings, and for runs called
directly with output windows that start before or end after the buckets.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heatmaps.engine import (
    BASE_BAR_MS,
    TIMEFRAMES,
    BaseBars,
    Buckets,
    HeatmapGrid,
    ModelParams,
    compute_all_timeframes,
    compute_heatmap,
    price_edges,
    run_model,
)
from tests.heatmaps.engine import previous_engine
from tests.heatmaps.engine.test_engine import SMALL_TIMEFRAMES, bars_strategy, params_strategy

ALL_TIMEFRAMES = [*SMALL_TIMEFRAMES, *TIMEFRAMES.values()]


def assert_same_grid(got: HeatmapGrid, want: HeatmapGrid) -> None:
    for name in ("times", "close", "edges", "prices", "long", "short", "tier_long", "tier_short"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.shape == b.shape, name
        assert a.dtype == b.dtype, name
        # Bit for bit: compare the bytes, so -0.0 against 0.0 or two different NaNs would fail too.
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), name
    assert got.balance == want.balance


@settings(max_examples=40, deadline=None)
@given(bars=bars_strategy(), params=params_strategy())
def test_all_timeframes_bit_identical_to_previous_pass(bars: Buckets, params: ModelParams) -> None:
    got = compute_all_timeframes(bars=bars, params=params, timeframes=ALL_TIMEFRAMES)
    want = previous_engine.compute_all_timeframes(bars=bars, params=params, timeframes=ALL_TIMEFRAMES)
    assert list(got) == list(want)
    for key in got:
        assert_same_grid(got[key], want[key])


@settings(max_examples=25, deadline=None)
@given(bars=bars_strategy(), params=params_strategy(), tf=st.sampled_from(ALL_TIMEFRAMES))
def test_one_timeframe_bit_identical_to_previous_pass(bars: Buckets, params: ModelParams, tf) -> None:
    got = compute_heatmap(bars=bars, timeframe=tf, params=params)
    assert_same_grid(got, previous_engine.compute_heatmap(bars=bars, timeframe=tf, params=params))


def two_years(seed: int) -> Buckets:
    """Two years of 5-minute bars: volatility regimes, outages, unknown OI, OI collapsing to zero."""
    rng = np.random.default_rng(seed)
    n = 210_000
    times = 1_700_000_000_000 // BASE_BAR_MS * BASE_BAR_MS + BASE_BAR_MS * np.arange(n, dtype=np.int64)
    vol = 0.0015 * np.exp(np.cumsum(rng.normal(0, 0.02, n)).clip(-1.5, 1.5))
    ret = rng.normal(0, 1, n) * vol
    close = 60_000 * np.exp(np.cumsum(ret))
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = np.abs(rng.normal(0, 1, (2, n))) * vol * close * 0.6
    volume = rng.gamma(2.0, 150.0, n)
    taker = volume * rng.uniform(-0.1, 1.1, n)
    volume[rng.random(n) < 0.001] = np.nan
    oi = 6e9 * np.exp(np.cumsum(np.where(np.abs(ret) < 1.5 * vol, 0.0004, -0.003) + rng.normal(0, 0.001, n)))
    oi[rng.random(n) < 0.01] = np.nan
    oi[: rng.integers(0, 5000)] = np.nan
    oi[rng.integers(0, n, 3)] = 0.0
    keep = np.ones(n, dtype=bool)
    for start in rng.integers(0, n - 3000, 12):  # outages: whole buckets of every size go missing
        keep[start : start + rng.integers(1, 3000)] = False
    return BaseBars.from_arrays(
        open_time=times[keep],
        high=(np.maximum(open_, close) + wick[0])[keep],
        low=(np.minimum(open_, close) - wick[1])[keep],
        close=close[keep],
        volume=volume[keep],
        taker_buy=taker[keep],
        oi_value=oi[keep],
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_two_years_every_timeframe_bit_identical(seed: int) -> None:
    bars = two_years(seed)
    params = ModelParams()
    got = compute_all_timeframes(bars=bars, params=params)
    want = previous_engine.compute_all_timeframes(bars=bars, params=params)
    assert list(got) == list(TIMEFRAMES)
    for key in TIMEFRAMES:
        assert_same_grid(got[key], want[key])
        # Not a vacuous comparison: the maps hold positions.
        assert got[key].long.any() and got[key].short.any()
    # And sweeps and closes of both sides happened along the way.
    books = [g.balance for g in got.values()]
    assert all(sum(getattr(b, name) > 0 for b in books) >= 5 for name in ("swept_long", "swept_short"))
    assert all(b.closed_long > 0 and b.closed_short > 0 for b in books)


def test_direct_runs_with_windows_around_the_buckets() -> None:
    bars = two_years(3).slice(0, 4000)
    params = ModelParams(n_bins=50)
    edges = price_edges(low=float(bars.low.min()), high=float(bars.high.max()), params=params)
    t0 = int(bars.open_time[0])
    cases = [
        (bars, None, None),  # defaults: first to last bucket
        (bars, t0 + 1000 * BASE_BAR_MS, 5000),  # the window ends long after the last bucket
        (bars.slice(100, 300), t0 - 50 * BASE_BAR_MS, 400),  # and starts before the first
        (bars.slice(0, 1), None, None),  # one bucket
    ]
    for buckets, start_ms, columns in cases:
        want = previous_engine.run_model(
            buckets=buckets, edges=edges, params=params, start_ms=start_ms, columns=columns
        )
        got = run_model(buckets=buckets, edges=edges, params=params, start_ms=start_ms, columns=columns)
        shared = np.full((2, *want.long.shape), np.nan)  # a caller's array: every cell gets written
        into = run_model(buckets=buckets, edges=edges, params=params, start_ms=start_ms, columns=columns, out=shared)
        assert np.shares_memory(into.long, shared) and np.shares_memory(into.short, shared)
        for run in (got, into):
            assert run.long.tobytes() == want.long.tobytes()
            assert run.short.tobytes() == want.short.tobytes()
            assert run.tier_long.tobytes() == want.tier_long.tobytes()
            assert run.tier_short.tobytes() == want.tier_short.tobytes()
            assert run.balance == want.balance


def test_run_model_refuses_an_output_array_of_the_wrong_shape() -> None:
    bars = two_years(4).slice(0, 100)
    params = ModelParams(n_bins=20)
    edges = price_edges(low=float(bars.low.min()), high=float(bars.high.max()), params=params)
    with pytest.raises(ValueError, match="expected"):
        run_model(buckets=bars, edges=edges, params=params, out=np.empty((2, 100, 21)))


def test_all_timeframes_share_one_block_without_overlap() -> None:
    grids = compute_all_timeframes(bars=two_years(5).slice(0, 30_000), params=ModelParams(n_bins=30))
    arrays = [a for g in grids.values() for a in (g.long, g.short)]
    assert all(a.flags.c_contiguous for a in arrays)  # each map reads like an array of its own
    for i, a in enumerate(arrays):
        for b in arrays[i + 1 :]:
            assert not np.shares_memory(a, b)
