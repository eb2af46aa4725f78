"""Model v2 (docs/model.md, "Model v2") against its definition: v1 when nothing of v2 is used, per-tier
additivity, decay by the exact factor, the maximum-leverage drop, sweeps on the mark price, and the
run's new arguments. The worked example is tested in test_model_v2_example.py, the inputs (mark
candles, parameters) in test_model_v2_inputs.py. No Django, no database.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatmaps.engine import (
    BASE_BAR_MS,
    DEFAULT_V2_TIERS,
    MODEL_V2_VERSION,
    TIMEFRAMES,
    BaseBars,
    Buckets,
    HeatmapGrid,
    MassBalance,
    ModelParams,
    ModelV2Params,
    TierV2,
    Timeframe,
    aggregate,
    carry_open_interest,
    compute_all_timeframes,
    compute_all_timeframes_v2,
    compute_heatmap,
    compute_heatmap_v2,
    find_clusters,
    liquidation_map,
    price_edges,
    run_end_state,
    run_model,
)
from heatmaps.engine.run_tiers import run_tiers
from tests.heatmaps.engine.test_engine import SMALL_TIMEFRAMES, bars_strategy, params_strategy
from tests.heatmaps.engine.test_same_maps_as_before import two_years

M5 = BASE_BAR_MS
HOUR = 3_600_000
T0 = 1_700_000_000_000 // HOUR * HOUR


def never_decaying(params: ModelParams) -> ModelV2Params:
    return ModelV2Params(
        tiers=tuple(TierV2(lev, w, math.inf) for lev, w in params.tiers),
        mmr=params.mmr,
        n_bins=max(params.n_bins, 50),
        pad=params.pad,
    )


def assert_close(got: np.ndarray, want: np.ndarray, rel: float = 1e-9) -> None:
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-300)
    assert float(np.abs(got - want).max(initial=0.0)) <= rel * scale


def assert_same_map(got: HeatmapGrid, want: HeatmapGrid, rel: float = 1e-9) -> None:
    np.testing.assert_array_equal(got.times, want.times)
    np.testing.assert_array_equal(got.edges, want.edges)
    np.testing.assert_array_equal(got.close, want.close)
    for name in ("long", "short", "tier_long", "tier_short"):
        assert getattr(got, name).shape == getattr(want, name).shape, name
        assert_close(getattr(got, name), getattr(want, name), rel)


# ---------------------------------------------------------------------------------------------
# Nothing of v2 used: v1's map


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bars=bars_strategy(), params=params_strategy(), tf=st.sampled_from(SMALL_TIMEFRAMES))
def test_without_decay_drop_or_mark_v2_is_v1(bars: Buckets, params: ModelParams, tf: Timeframe) -> None:
    v2 = never_decaying(params)
    v1 = dataclasses.replace(params, n_bins=v2.n_bins)
    got = compute_heatmap_v2(bars=bars, timeframe=tf, params=v2)
    want = compute_heatmap(bars=bars, timeframe=tf, params=v1)
    assert_same_map(got, want)
    assert got.model_version == MODEL_V2_VERSION == "v2" and want.model_version == "v1"
    assert got.sweep_price == want.sweep_price == "last"
    assert got.params == v1
    for name in ("added_long", "added_short", "swept_long", "swept_short", "closed_long", "closed_short"):
        assert getattr(got.balance, name) == pytest.approx(getattr(want.balance, name), rel=1e-9, abs=1e-6)
    assert got.balance.decayed_long == got.balance.decayed_short == 0.0


def test_two_years_without_decay_is_v1_on_every_timeframe() -> None:
    bars = two_years(7)
    v2 = never_decaying(ModelParams())
    got = compute_all_timeframes_v2(bars=bars, params=v2)
    want = compute_all_timeframes(bars=bars, params=ModelParams())
    assert list(got) == list(want) == list(TIMEFRAMES)
    for key in TIMEFRAMES:
        assert_same_map(got[key], want[key])
        assert got[key].long.any() and got[key].short.any()


def test_v1_ignores_mark_candles_bit_for_bit() -> None:
    bars = two_years(8).slice(0, 20_000)
    marked = with_marks(bars, np.random.default_rng(0).random(len(bars)) < 0.5)
    for key in ("12h", "3d", "1m"):
        a = compute_heatmap(bars=bars, timeframe=key)
        b = compute_heatmap(bars=marked, timeframe=key)
        assert a.long.tobytes() == b.long.tobytes() and a.short.tobytes() == b.short.tobytes()
        assert a.balance == b.balance and b.sweep_price == "last"


# ---------------------------------------------------------------------------------------------
# Linearity, books, and all timeframes at once


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bars=bars_strategy(), tf=st.sampled_from(SMALL_TIMEFRAMES))
def test_tiers_add_up_and_books_balance(bars: Buckets, tf: Timeframe) -> None:
    params = ModelV2Params(n_bins=60)
    grid = compute_heatmap_v2(bars=bars, timeframe=tf, params=params)
    scale = max(float(grid.long.max()), float(grid.short.max()), 1.0)
    np.testing.assert_allclose(grid.tier_long.sum(axis=0), grid.long[-1], rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(grid.tier_short.sum(axis=0), grid.short[-1], rtol=0, atol=1e-9 * scale)
    # The map of the tiers is the sum of each tier alone at its own weight (the model is linear).
    total = np.zeros_like(grid.long)
    for tier in params.tiers:
        alone = ModelV2Params(tiers=(TierV2(tier.leverage, 1.0, tier.half_life_hours),), n_bins=60)
        total += tier.weight * compute_heatmap_v2(bars=bars, timeframe=tf, params=alone).long
    np.testing.assert_allclose(total, grid.long, rtol=0, atol=1e-9 * scale)
    bal = grid.balance
    for side, added, swept, closed, decayed in (
        (grid.long, bal.added_long, bal.swept_long, bal.closed_long, bal.decayed_long),
        (grid.short, bal.added_short, bal.swept_short, bal.closed_short, bal.decayed_short),
    ):
        assert min(added, swept, closed, decayed) >= 0
        assert added - swept - closed - decayed == pytest.approx(float(side[-1].sum()), rel=1e-9, abs=1e-9 * scale)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bars=bars_strategy())
def test_all_timeframes_equal_one_at_a_time(bars: Buckets) -> None:
    tfs = [*SMALL_TIMEFRAMES, *TIMEFRAMES.values()]
    params = ModelV2Params(n_bins=50, max_leverage=60)
    together = compute_all_timeframes_v2(bars=bars, params=params, timeframes=tfs)
    for tf in tfs:
        alone = compute_heatmap_v2(bars=bars, timeframe=tf, params=params)
        both = together[tf.key]
        np.testing.assert_array_equal(both.long, alone.long)
        np.testing.assert_array_equal(both.short, alone.short)
        np.testing.assert_array_equal(both.tier_long, alone.tier_long)
        assert both.balance == alone.balance


# ---------------------------------------------------------------------------------------------
# Decay


def quiet_bars(n: int, *, gap_after: int | None = None, gap_bars: int = 0) -> Buckets:
    """Open interest doubles on bar 1, then nothing moves: price flat at 100 with a 0.1 % range (far
    from every liquidation price), OI constant. Optionally a gap of ``gap_bars`` missing bars."""
    steps = np.ones(n, dtype=np.int64)
    steps[0] = 0
    if gap_after is not None:
        steps[gap_after + 1] += gap_bars
    times = T0 + M5 * np.cumsum(steps)
    oi = np.full(n, 2000.0)
    oi[0] = 1000.0
    return BaseBars.from_arrays(
        open_time=times,
        high=np.full(n, 100.05),
        low=np.full(n, 99.95),
        close=np.full(n, 100.0),
        volume=np.full(n, 10.0),
        taker_buy=np.full(n, 5.0),
        oi_value=oi,
    )


def test_decay_shrinks_each_tier_by_its_half_life_over_a_quiet_stretch() -> None:
    tiers = (TierV2(10.0, 0.5, 2.0), TierV2(50.0, 0.3, 1.0), TierV2(25.0, 0.2, math.inf))
    params = ModelV2Params(tiers=tiers, n_bins=100)
    n = 50  # the last bar is four hours after bar 1
    tf = Timeframe(key="t", window_ms=n * M5, bar_ms=M5, columns=n)
    grid = compute_heatmap_v2(bars=quiet_bars(n), timeframe=tf, params=params)
    # Bar 1 placed 1000 USD: per tier 500 x weight a side; the last bar is 48 bars = 4 hours later.
    for i, tier in enumerate(tiers):
        want = 1000 * 0.5 * tier.weight * 0.5 ** (4.0 / tier.half_life_hours)
        assert grid.tier_long[i].sum() == pytest.approx(want, rel=1e-12)
        assert grid.tier_short[i].sum() == pytest.approx(want, rel=1e-12)
    # Column by column: each bar is 5 minutes of every tier's decay.
    for col in range(1, n):
        hours = (col - 1) / 12
        want = sum(1000 * 0.5 * t.weight * 0.5 ** (hours / t.half_life_hours) for t in tiers)
        assert grid.long[col].sum() == pytest.approx(want, rel=1e-12)
    bal = grid.balance
    assert bal.closed_long == 0 and bal.swept_long == 0
    assert bal.decayed_long == pytest.approx(500 - grid.long[-1].sum(), rel=1e-12)


def test_a_gap_decays_as_much_as_the_time_it_spans() -> None:
    params = ModelV2Params(tiers=(TierV2(10.0, 1.0, 3.0),), n_bins=80)
    tf = Timeframe(key="t", window_ms=400 * M5, bar_ms=M5, columns=400)
    gapped = compute_heatmap_v2(bars=quiet_bars(10, gap_after=4, gap_bars=36), timeframe=tf, params=params)
    # Bar 1 at T0 + 5 min; the last bar at T0 + (9 + 36) x 5 min: 44 bars of 5 minutes = 11/3 hours.
    want = 500 * 0.5 ** ((44 / 12) / 3.0)
    assert gapped.long[-1].sum() == pytest.approx(want, rel=1e-12)
    # Columns inside the gap repeat the state before it (nothing happens between bars).
    before_gap = gapped.long[-1 - 5 - 36].sum()
    assert before_gap == pytest.approx(500 * 0.5 ** ((3 / 12) / 3.0), rel=1e-12)


def test_decay_and_a_close_in_one_bucket_are_booked_apart() -> None:
    bars = quiet_bars(3)
    oi = bars.oi_value.copy()
    oi[2] = 1500.0  # bar 2 closes a quarter
    bars = BaseBars.from_arrays(open_time=bars.open_time, high=bars.high, low=bars.low, close=bars.close, oi_value=oi)
    params = ModelV2Params(tiers=(TierV2(10.0, 1.0, 1.0),), n_bins=60)
    grid = compute_heatmap_v2(
        bars=bars, timeframe=Timeframe(key="t", window_ms=3 * M5, bar_ms=M5, columns=3), params=params
    )
    d = 0.5 ** (1 / 12)
    assert grid.long[-1].sum() == pytest.approx(500 * 0.75 * d, rel=1e-12)
    assert grid.balance.closed_long == pytest.approx(500 * 0.25, rel=1e-12)
    assert grid.balance.decayed_long == pytest.approx(500 * 0.75 * (1 - d), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Maximum leverage


def test_max_leverage_drops_tiers_and_renormalises() -> None:
    params = ModelV2Params(max_leverage=25).validate()
    eff = params.effective()
    assert eff.max_leverage is None
    assert [t.leverage for t in eff.tiers] == [5.0, 10.0, 25.0]
    assert [t.weight for t in eff.tiers] == pytest.approx([0.10 / 0.65, 0.25 / 0.65, 0.30 / 0.65], rel=1e-15)
    assert [t.half_life_hours for t in eff.tiers] == [t.half_life_hours for t in DEFAULT_V2_TIERS[:3]]
    assert math.fsum(t.weight for t in eff.tiers) == pytest.approx(1.0, abs=1e-15)
    assert ModelV2Params().effective() == ModelV2Params()
    assert ModelV2Params(max_leverage=100).effective().tiers == DEFAULT_V2_TIERS  # the cap is inclusive

    bars = two_years(9).slice(0, 6000)
    capped = compute_heatmap_v2(bars=bars, timeframe="24h", params=params)
    explicit = compute_heatmap_v2(bars=bars, timeframe="24h", params=eff)
    assert_same_map(capped, explicit, rel=0)
    assert capped.params.tiers == tuple((t.leverage, t.weight) for t in eff.tiers)
    assert capped.leverages == (5.0, 10.0, 25.0) and capped.tier_long.shape == (3, 400)
    # What the views read off the grid works unchanged on the effective tiers.
    lmap = liquidation_map(capped)
    assert lmap.leverages == (5.0, 10.0, 25.0)
    assert find_clusters(capped)  # positions near the price make at least one zone
    # A 50x or 100x position would sit within 2 % of its entry: the capped map has none there.
    full = compute_heatmap_v2(bars=bars, timeframe="24h", params=ModelV2Params())
    assert full.tier_long.shape == (5, 400)
    assert capped.long[-1].sum() != pytest.approx(full.long[-1].sum(), rel=1e-3)


# ---------------------------------------------------------------------------------------------
# Mark-price sweeps


def with_marks(
    bars: Buckets, known: np.ndarray, *, high: np.ndarray | None = None, low: np.ndarray | None = None
) -> Buckets:
    mh = np.where(known, bars.high if high is None else high, np.nan)
    ml = np.where(known, bars.low if low is None else low, np.nan)
    return BaseBars.from_arrays(
        open_time=bars.open_time,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=bars.volume,
        taker_buy=bars.taker_buy,
        oi_value=bars.oi_value,
        mark_high=mh,
        mark_low=ml,
    )


def wick_bars() -> Buckets:
    """Bar 1 opens positions at 100; bar 2's last price wicks to 88 (below the 10x longs at ~90.36)
    and 112 (above the 10x shorts at ~109.56), which the mark price (99.5-100.5) never did."""
    n = 4
    return BaseBars.from_arrays(
        open_time=T0 + M5 * np.arange(n),
        high=[100.5, 100.5, 112.0, 100.5],
        low=[99.5, 99.5, 88.0, 99.5],
        close=[100.0, 100.0, 100.0, 100.0],
        volume=[10.0] * n,
        taker_buy=[5.0] * n,
        oi_value=[1000.0, 2000.0, 2000.0, 2000.0],
    )


def test_a_last_price_wick_the_mark_price_did_not_make_sweeps_in_v1_not_in_v2() -> None:
    bars = wick_bars()
    marked = with_marks(bars, np.ones(4, dtype=bool), high=np.full(4, 100.5), low=np.full(4, 99.5))
    tf = Timeframe(key="t", window_ms=4 * M5, bar_ms=M5, columns=4)
    tiers = (TierV2(10.0, 1.0, math.inf),)
    v2 = compute_heatmap_v2(bars=marked, timeframe=tf, params=ModelV2Params(tiers=tiers, n_bins=100))
    v1 = compute_heatmap(bars=marked, timeframe=tf, params=ModelParams(tiers=((10.0, 1.0),), n_bins=100))
    assert v1.long[-1].sum() == 0 and v1.short[-1].sum() == 0  # swept by the wick
    assert v1.balance.swept_long == pytest.approx(500.0) and v1.balance.swept_short == pytest.approx(500.0)
    assert v2.long[-1].sum() == pytest.approx(500.0) and v2.short[-1].sum() == pytest.approx(500.0)
    assert v2.balance.swept_long == 0 and v2.balance.swept_short == 0
    assert v2.sweep_price == "mark" and v1.sweep_price == "last"
    # The same bars without mark candles: v2 sweeps on the last price, like v1.
    plain = compute_heatmap_v2(bars=bars, timeframe=tf, params=ModelV2Params(tiers=tiers, n_bins=100))
    assert plain.long[-1].sum() == 0 and plain.sweep_price == "last"
    # Mark unknown on the wick's bar only: that bar sweeps on the last price.
    partly = with_marks(bars, np.array([True, True, False, True]), high=np.full(4, 100.5), low=np.full(4, 99.5))
    mixed = compute_heatmap_v2(bars=partly, timeframe=tf, params=ModelV2Params(tiers=tiers, n_bins=100))
    assert mixed.long[-1].sum() == 0 and mixed.sweep_price == "mixed"
    none_known = with_marks(bars, np.zeros(4, dtype=bool))
    assert (
        compute_heatmap_v2(bars=none_known, timeframe=tf, params=ModelV2Params(tiers=tiers, n_bins=100)).sweep_price
        == "last"
    )


def test_a_bucket_sweeps_on_each_five_minute_bars_own_price() -> None:
    # In a 15-minute bucket the wick's 5-minute bar has no mark candle and the others do: the bucket
    # still sweeps on the wick (the mark extremes alone would miss it).
    n = 12
    times = T0 + M5 * np.arange(n)
    high = np.full(n, 100.5)
    low = np.full(n, 99.5)
    high[7], low[7] = 112.0, 88.0
    oi = np.full(n, 2000.0)
    oi[:3] = 1000.0
    bars = BaseBars.from_arrays(open_time=times, high=high, low=low, close=np.full(n, 100.0), oi_value=oi)
    known = np.ones(n, dtype=bool)
    known[7] = False
    marked = with_marks(bars, known, high=np.full(n, 100.5), low=np.full(n, 99.5))
    tf = Timeframe(key="t", window_ms=4 * 3 * M5, bar_ms=3 * M5, columns=4)
    params = ModelV2Params(tiers=(TierV2(10.0, 1.0, math.inf),), n_bins=100)
    grid = compute_heatmap_v2(bars=marked, timeframe=tf, params=params)
    assert grid.long[1].sum() == pytest.approx(500.0) and grid.long[2].sum() == 0.0
    assert grid.sweep_price == "mixed"
    all_known = compute_heatmap_v2(
        bars=with_marks(bars, np.ones(n, dtype=bool), high=np.full(n, 100.5), low=np.full(n, 99.5)),
        timeframe=tf,
        params=params,
    )
    assert all_known.long[-1].sum() == pytest.approx(500.0) and all_known.sweep_price == "mark"


# ---------------------------------------------------------------------------------------------
# The run's new arguments


def test_end_state_in_closed_form_equals_the_run_with_decay_and_sweep_prices() -> None:
    bars = aggregate(carry_open_interest(two_years(10).slice(0, 8000)), 3 * M5)
    rng = np.random.default_rng(1)
    n = len(bars)
    decay = 0.5 ** (np.diff(bars.open_time, prepend=bars.open_time[0]) / HOUR / 6.0)
    sweep_low = bars.low + (bars.close - bars.low) * rng.uniform(0, 1, n)
    sweep_high = bars.high - (bars.high - bars.close) * rng.uniform(0, 1, n)
    params = ModelParams(n_bins=120)
    edges = price_edges(low=float(bars.low.min()), high=float(bars.high.max()), params=params)
    kwargs: dict[str, Any] = {"decay": decay, "sweep_low": sweep_low, "sweep_high": sweep_high}
    run = run_model(buckets=bars, edges=edges, params=params, **kwargs)
    long, short = run_end_state(buckets=bars, edges=edges, params=params, **kwargs)
    scale = float(run.long[-1].max())
    np.testing.assert_allclose(long, run.tier_long, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(short, run.tier_short, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(run.tier_long.sum(axis=0), run.long[-1], rtol=0, atol=1e-9 * scale)
    bal = run.balance
    assert bal.decayed_long > 0 and bal.closed_long > 0 and bal.swept_long > 0
    assert bal.added_long - bal.swept_long - bal.closed_long - bal.decayed_long == pytest.approx(
        float(run.long[-1].sum()), rel=1e-9
    )
    # Sweeping on narrower ranges than the candles' removes less.
    plain = run_model(buckets=bars, edges=edges, params=params, decay=decay)
    assert plain.balance.swept_long > bal.swept_long


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"decay": np.ones(3)}, "decay has shape"),
        ({"decay": np.array([1.0, 1.1, 1.0, 1.0])}, "decay factors"),
        ({"decay": np.array([1.0, np.nan, 1.0, 1.0])}, "decay factors"),
        ({"sweep_low": np.ones(5)}, "sweep_low has shape"),
        ({"sweep_high": np.array([1.0, np.inf, 1.0, 1.0])}, "sweep_high must be finite"),
    ],
)
def test_run_refuses_bad_decay_and_sweep_prices(kwargs: dict[str, Any], message: str) -> None:
    bars = wick_bars()
    params = ModelParams(n_bins=20)
    edges = price_edges(low=88.0, high=112.0, params=params)
    with pytest.raises(ValueError, match=message):
        run_model(buckets=bars, edges=edges, params=params, **kwargs)
    with pytest.raises(ValueError, match=message):
        run_end_state(buckets=bars, edges=edges, params=params, **kwargs)


@pytest.mark.parametrize("bar_ms", [M5, 6 * M5, 24 * 12 * M5])
def test_tiers_side_by_side_equal_one_v1_run_per_tier_with_its_decay(bar_ms: int) -> None:
    """The definition: one run_model per tier on its share of the open interest, with its decay, summed."""
    bars = aggregate(carry_open_interest(two_years(11)), bar_ms).slice(-1500)
    rng = np.random.default_rng(2)
    n = len(bars)
    sweep_low = bars.low + (bars.close - bars.low) * rng.uniform(0, 1, n)
    sweep_high = bars.high - (bars.high - bars.close) * rng.uniform(0, 1, n)
    tiers_v2 = (TierV2(50.0, 0.2, 24.0), TierV2(5.0, 0.1, math.inf), TierV2(25.0, 0.3, 64.0), TierV2(10.0, 0.4, 240.0))
    params = ModelParams(tiers=tuple((t.leverage, t.weight) for t in tiers_v2), mmr=0.005, n_bins=150)
    half = n // 2  # warm-up, then the window
    edges = price_edges(low=float(bars.low[half:].min()), high=float(bars.high[half:].max()), params=params)
    start = int(bars.open_time[half])
    columns = (int(bars.open_time[-1]) - start) // bar_ms + 3  # ends after the last bucket
    decays = [
        None
        if t.half_life_hours == math.inf
        else 0.5 ** (np.diff(bars.open_time, prepend=bars.open_time[0]) / HOUR / t.half_life_hours)
        for t in tiers_v2
    ]
    together = run_tiers(
        buckets=bars,
        edges=edges,
        params=params,
        decays=decays,
        start_ms=start,
        columns=columns,
        out=np.full((2, columns, 150), np.nan),
        sweep_low=sweep_low,
        sweep_high=sweep_high,
    )
    long = np.zeros((columns, 150))
    short = np.zeros((columns, 150))
    books = dict.fromkeys((f.name for f in dataclasses.fields(MassBalance)), 0.0)
    for i, (tier, decay) in enumerate(zip(tiers_v2, decays, strict=True)):
        share = dataclasses.replace(bars, oi_value=bars.oi_value * tier.weight)
        alone = run_model(
            buckets=share,
            edges=edges,
            params=ModelParams(tiers=((tier.leverage, 1.0),), mmr=0.005, n_bins=150),
            start_ms=start,
            columns=columns,
            decay=decay,
            sweep_low=sweep_low,
            sweep_high=sweep_high,
        )
        long += alone.long
        short += alone.short
        scale = max(float(alone.tier_long.max()), 1.0)
        np.testing.assert_allclose(together.tier_long[i], alone.tier_long[0], rtol=0, atol=1e-9 * scale)
        np.testing.assert_allclose(together.tier_short[i], alone.tier_short[0], rtol=0, atol=1e-9 * scale)
        for name in books:
            books[name] += getattr(alone.balance, name)
    assert_close(together.long, long)
    assert_close(together.short, short)
    assert together.long[-1].any() and together.short[-1].any()
    for name, value in books.items():
        assert getattr(together.balance, name) == pytest.approx(value, rel=1e-9, abs=1e-9 * books["added_long"]), name
    assert books["decayed_long"] > 0 and books["swept_long"] > 0 and books["closed_long"] > 0
