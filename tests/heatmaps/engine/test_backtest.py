"""The walk-forward backtest of the clusters, on arrays: the map at each step, no look-ahead, and
the verdict on series whose answer is known."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from heatmaps.engine import (
    BASE_BAR_MS,
    TIMEFRAMES,
    Buckets,
    LiquidationEvents,
    ModelParams,
    aggregate,
    backtest_magnets,
    carry_open_interest,
    compute_heatmap,
    find_clusters,
    last_column_at,
    run_end_state,
    run_model,
)
from heatmaps.engine.backtest import random_walk_upper_first
from tests.heatmaps.engine.magnet_series import attracted, random_walk

HOUR = 3_600_000
TF = "24h"
EVERY = HOUR
HORIZON = 12 * HOUR  # long enough that a good share of steps reach a cluster


def up_to(bars: Buckets, t_ms: int) -> Buckets:
    return bars.slice(0, int(np.searchsorted(bars.open_time, t_ms, side="left")))


@pytest.fixture(scope="module")
def walk() -> Buckets:
    return random_walk(12, seed=7)


def test_run_end_state_is_the_last_column_of_the_run(walk: Buckets):
    buckets = aggregate(walk.slice(0, 2000), 30 * 60_000)
    edges = np.linspace(float(buckets.low.min()) * 0.9, float(buckets.high.max()) * 1.1, 301)
    params = ModelParams()
    run = run_model(buckets=buckets, edges=edges, params=params)
    tier_long, tier_short = run_end_state(buckets=buckets, edges=edges, params=params)
    np.testing.assert_allclose(tier_long.sum(axis=0), run.long[-1], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(tier_short.sum(axis=0), run.short[-1], rtol=1e-9, atol=1e-6)
    assert run.long[-1].sum() > 0 and run.short[-1].sum() > 0


@pytest.mark.parametrize("timeframe", ["12h", "24h", "3d"])
def test_map_at_each_step_is_the_map_drawn_from_the_data_up_to_it(walk: Buckets, timeframe: str):
    """The walk reads one aggregation of the whole history; at t it must equal compute_heatmap on
    the bars that closed by t (same grid, same clusters), also across a gap in the data."""
    tf = TIMEFRAMES[timeframe]
    gap = np.ones(len(walk), dtype=bool)
    gap[1500:1530] = False  # two and a half hours without bars
    bars = Buckets.from_arrays(
        **{
            f.name: getattr(walk, f.name)[gap]
            for f in dataclasses.fields(walk)
            if f.name != "bar_ms" and getattr(walk, f.name) is not None
        }
    )
    buckets = aggregate(carry_open_interest(bars), tf.bar_ms)
    params = ModelParams()
    start = int(bars.open_time[0]) + 2 * tf.window_ms
    checked = 0
    for t in range(start, int(bars.open_time[-1]), 7 * tf.bar_ms * 5):
        mine = last_column_at(buckets=buckets, timeframe=tf, params=params, t_ms=t)
        ref = compute_heatmap(bars=up_to(bars, t), timeframe=tf, params=params)
        assert mine is not None
        np.testing.assert_array_equal(mine.edges, ref.edges)
        np.testing.assert_allclose(mine.long[-1], ref.long[-1], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(mine.short[-1], ref.short[-1], rtol=1e-9, atol=1e-6)
        assert mine.current_price == ref.current_price
        assert [(c.side, c.peak_price) for c in find_clusters(mine)] == [
            (c.side, c.peak_price) for c in find_clusters(ref)
        ]
        checked += 1
    assert checked >= 5


def test_no_look_ahead_changing_the_data_after_t_changes_nothing_at_t(walk: Buckets):
    cut = int(walk.open_time[0]) + 9 * 24 * HOUR
    before = backtest_magnets(bars=walk, timeframe=TF, every_ms=EVERY, horizon_ms=HORIZON, bootstrap=0)
    rng = np.random.default_rng(3)
    later = walk.open_time >= cut
    shock = np.where(later, np.exp(rng.normal(0, 0.05)), 1.0)
    changed = Buckets.from_arrays(
        open_time=walk.open_time,
        high=walk.high * shock * np.where(later, 1.01, 1.0),
        low=walk.low * shock,
        close=walk.close * shock,
        volume=walk.volume,
        taker_buy=np.where(later, walk.volume * 0.9, walk.taker_buy),
        oi_value=np.where(later, walk.oi_value * 3, walk.oi_value),
    )
    after = backtest_magnets(bars=changed, timeframe=TF, every_ms=EVERY, horizon_ms=HORIZON, bootstrap=0)
    s, a = before.steps, after.steps
    np.testing.assert_array_equal(s.time_ms, a.time_ms)
    mapped = s.time_ms <= cut  # the map at t reads nothing at or after t
    for name in ("price", "upper", "lower", "usd_upper", "usd_lower", "modelled_upper", "modelled_lower", "spread"):
        np.testing.assert_array_equal(getattr(s, name)[mapped], getattr(a, name)[mapped], err_msg=name)
    settled = s.time_ms + HORIZON <= cut  # nor do the outcomes of steps whose horizon ended before the change
    for name in ("first", "upper_at_ms", "lower_at_ms", "up_move", "down_move"):
        np.testing.assert_array_equal(getattr(s, name)[settled], getattr(a, name)[settled], err_msg=name)
    # The change is real: maps after the cut differ.
    assert not np.array_equal(s.upper[~mapped], a.upper[~mapped])
    assert mapped.sum() > 50 and settled.sum() > 40


def test_outcome_is_the_first_peak_touched_by_a_high_or_a_low(walk: Buckets):
    result = backtest_magnets(bars=walk, timeframe=TF, every_ms=EVERY, horizon_ms=HORIZON, bootstrap=0)
    s = result.steps
    for i in range(0, len(s), 17):
        t = int(s.time_ms[i])
        window = (walk.open_time >= t) & (walk.open_time < t + HORIZON)
        hi, lo, times = walk.high[window], walk.low[window], walk.open_time[window]
        up = np.flatnonzero(hi >= s.upper[i])
        dn = np.flatnonzero(lo <= s.lower[i])
        assert s.upper_at_ms[i] == (times[up[0]] + BASE_BAR_MS if up.size else -1)
        assert s.lower_at_ms[i] == (times[dn[0]] + BASE_BAR_MS if dn.size else -1)
        expected = 0 if not (up.size or dn.size) else 1 if not dn.size or (up.size and up[0] < dn[0]) else -1
        if up.size and dn.size and up[0] == dn[0]:
            expected = 2
        assert s.first[i] == expected
        assert s.up_move[i] == pytest.approx(np.log(hi.max() / s.price[i]))
        assert s.upper[i] > s.price[i] > s.lower[i]


def test_random_walk_baseline_limits_and_symmetry():
    d_up, d_dn = np.array([0.01, 0.02, 0.005]), np.array([0.03, 0.02, 0.001])
    unlimited = random_walk_upper_first(d_up, d_dn, np.full(3, 10.0))
    np.testing.assert_allclose(unlimited, d_dn / (d_up + d_dn), atol=1e-6)
    short = random_walk_upper_first(d_up, d_dn, np.full(3, 0.004))
    np.testing.assert_allclose(short + random_walk_upper_first(d_dn, d_up, np.full(3, 0.004)), 1.0)
    assert short[0] > unlimited[0] and short[2] < unlimited[2]  # within a horizon the nearer level gains
    assert short[1] == pytest.approx(0.5)
    # Against simulated driftless walks, given that one level is touched within the horizon.
    rng = np.random.default_rng(0)
    paths = np.cumsum(rng.normal(0, 0.01 / np.sqrt(400), (20_000, 400)), axis=1)
    up, dn = (paths >= 0.01).argmax(axis=1), (paths <= -0.02).argmax(axis=1)
    up[~(paths >= 0.01).any(axis=1)] = 10**6
    dn[~(paths <= -0.02).any(axis=1)] = 10**6
    touched = (up < 10**6) | (dn < 10**6)
    simulated = float((up < dn)[touched].mean())
    assert random_walk_upper_first(np.array([0.01]), np.array([0.02]), np.array([0.01]))[0] == pytest.approx(
        simulated, abs=0.01
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_on_a_random_walk_the_clusters_do_not_beat_distance(seed: int):
    """Scored on events with day-block intervals: every interval of a gain contains 0."""
    result = backtest_magnets(bars=random_walk(40, seed=seed), timeframe=TF, every_ms=EVERY, horizon_ms=HORIZON)
    first, compared, same = result.summary["first_reach"], result.summary["comparison"], result.summary["same_distance"]
    assert first["events"] >= 60 and compared["scored_events"] >= 30
    for lo, hi in (
        first["excess_bigger_first_ci95"],
        compared["log_loss_difference_ci95"],
        compared["brier_difference_ci95"],
        compared["pseudo_r2"]["incremental_ci95"],
        same["difference_ci95"],
    ):
        assert lo <= 0 <= hi
    lo, hi = first["share_bigger_first_ci95"]
    assert lo <= first["share_bigger_first"] <= hi
    assert result.summary["regimes"]["cascade"]["events"] == 0  # a Gaussian walk has no cascade day


@pytest.mark.parametrize("seed", [1, 2])
def test_on_a_series_attracted_to_its_clusters_they_do(seed: int):
    result = backtest_magnets(bars=attracted(40, seed=seed), timeframe=TF, every_ms=EVERY, horizon_ms=HORIZON)
    first, compared, same = result.summary["first_reach"], result.summary["comparison"], result.summary["same_distance"]
    assert first["share_bigger_first"] > first["baseline_share_bigger_first"] + 0.05
    assert first["excess_bigger_first_ci95"][0] > 0
    assert compared["coef"]["log_usd_ratio"] > 0.5, "the free size term must find the pull"
    assert compared["log_loss_difference_ci95"][1] < 0 and compared["brier_difference_ci95"][1] < 0
    assert compared["pseudo_r2"]["incremental_ci95"][0] > 0
    assert same["difference_ci95"][0] > 0
    assert same["hit_rate"] > same["baseline_hit_rate"]
    table = compared["reliability"]["model"]
    assert sum(row["n"] for row in table) == compared["scored_events"]
    assert len(table) == 10 and table[0]["lo"] == 0.0 and table[-1]["hi"] == 1.0


def test_modelled_against_recorded_liquidations():
    """Recorded events at half the modelled USD of each sweep give a ratio of 0.5 and correlation 1;
    sweeps outside the recorded span and events after the sweep are left out."""
    walk = random_walk(30, seed=3)
    plain = backtest_magnets(bars=walk, timeframe=TF, every_ms=HORIZON, horizon_ms=HORIZON, bootstrap=0)
    s = plain.steps
    times, longs, usd = [], [], []
    span_end = int(s.time_ms[len(s) // 2])
    for at, modelled, is_long in ((s.upper_at_ms, s.modelled_upper, False), (s.lower_at_ms, s.modelled_lower, True)):
        for i in np.flatnonzero(at >= 0).tolist():
            times.append(int(s.time_ms[i]) + 60_000)
            longs.append(is_long)
            usd.append(0.5 * float(modelled[i]))
            if at[i] < s.time_ms[i] + HORIZON:
                times.append(int(at[i]) + 60_000)  # after the sweep, within the horizon: not part of the move
                longs.append(is_long)
                usd.append(1e9)
    events = LiquidationEvents(
        time_ms=np.array(times, dtype=np.int64),
        long=np.array(longs),
        usd=np.array(usd),
        start_ms=int(s.time_ms[0]),
        end_ms=span_end,
    )
    result = backtest_magnets(
        bars=walk, timeframe=TF, every_ms=HORIZON, horizon_ms=HORIZON, liquidations=events, bootstrap=0
    )
    mvr = result.summary["modelled_vs_realised"]
    in_span = ((s.upper_at_ms >= 0) & (s.upper_at_ms <= span_end)).sum() + (
        (s.lower_at_ms >= 0) & (s.lower_at_ms <= span_end)
    ).sum()
    assert mvr["sweeps"] == in_span >= 3
    assert mvr["ratio"] == pytest.approx(0.5)
    assert mvr["median_ratio"] == pytest.approx(0.5)
    assert mvr["correlation"] == pytest.approx(1.0)
    assert plain.summary["modelled_vs_realised"] is None


def test_step_must_fit_the_timeframe_bar(walk: Buckets):
    with pytest.raises(ValueError, match="multiple"):
        backtest_magnets(bars=walk, timeframe="1w", every_ms=15 * 60_000)
    short = backtest_magnets(bars=walk.slice(0, 500), timeframe="1w")
    assert len(short.steps) == 0 and short.summary["comparison"] is None
