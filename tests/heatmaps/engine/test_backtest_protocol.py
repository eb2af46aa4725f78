"""The backtest's protocol piece by piece: events, calendar-day blocks, the logistic fit, cascade days."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from heatmaps.engine import BASE_BAR_MS, LiquidationEvents, Steps
from heatmaps.engine.backtest import (
    block_length_ms,
    cascade_days,
    day_blocks,
    fit_logistic,
    group_events,
    mean_interval,
)
from heatmaps.engine.backtest.resampling import figure_rng
from heatmaps.engine.backtest.scoring import resolved_events

DAY = 86_400_000
HOUR = 3_600_000
START = 1_735_689_600_000  # 2025-01-01 00:00 UTC


def steps_of(rows: list[tuple[int, int, float, int]]) -> Steps:
    """Steps from (time, side reached first, peak reached, touch time); the other peak 2 % away."""
    n = len(rows)
    t = np.array([r[0] for r in rows], dtype=np.int64)
    first = np.array([r[1] for r in rows], dtype=np.int64)
    peak = np.array([r[2] for r in rows])
    touch = np.array([r[3] for r in rows], dtype=np.int64)
    price = np.where(first == 1, peak / 1.01, peak * 1.01)
    upper = np.where(first == 1, peak, price * 1.02)
    lower = np.where(first == 1, price / 1.02, peak)
    none = np.full(n, -1, dtype=np.int64)
    return Steps(
        time_ms=t,
        price=price,
        upper=upper,
        lower=lower,
        usd_upper=np.full(n, 2e6),
        usd_lower=np.full(n, 1e6),
        modelled_upper=np.full(n, 1e6),
        modelled_lower=np.full(n, 1e6),
        first=first,
        upper_at_ms=np.where(first == 1, touch, none),
        lower_at_ms=np.where(first == -1, touch, none),
        up_move=np.full(n, 0.02),
        down_move=np.full(n, 0.02),
        spread=np.full(n, 0.01),
        bin_width=np.full(n, 50.0),
    )


def test_repeated_steps_at_one_wall_resolving_on_one_touch_count_once():
    touch = START + 10 * HOUR
    rows = [(START + k * HOUR, 1, 100_000.0 + 10 * k, touch) for k in range(6)]  # peaks drift within a bin
    rows += [(START + 6 * HOUR, 1, 100_000.0, touch + HOUR)]  # the same wall touched again later: a new event
    rows += [(START + 7 * HOUR, -1, 95_000.0, touch + 2 * HOUR)]  # the other side
    rows += [(START + 8 * HOUR, -1, 94_000.0, touch + 2 * HOUR)]  # same touch bar, another wall (20 bins away)
    rows += [(START + 9 * HOUR, -1, 94_040.0, touch + 2 * HOUR)]  # within one bin of the one before: same event
    steps = steps_of(rows)
    side = steps.first
    peak = np.where(side == 1, steps.upper, steps.lower)
    touch_ms = np.where(side == 1, steps.upper_at_ms, steps.lower_at_ms)
    event = group_events(side=side, peak=peak, touch_ms=touch_ms, bin_width=steps.bin_width)
    assert event.tolist() == [0, 0, 0, 0, 0, 0, 1, 2, 3, 3]
    events = resolved_events(steps, cascade_days=np.empty(0, dtype=np.int64))
    assert len(events) == 4 and events.resolved_steps == 10
    assert events.time_ms.tolist() == [START, START + 6 * HOUR, START + 7 * HOUR, START + 8 * HOUR]  # first steps


def test_unresolved_steps_are_neither_events_nor_links_between_them():
    touch = START + 10 * HOUR
    rows = [(START, 1, 100_000.0, touch), (START + HOUR, 0, 100_000.0, -1), (START + 2 * HOUR, 1, 100_000.0, touch)]
    steps = steps_of(rows)
    events = resolved_events(steps, cascade_days=np.empty(0, dtype=np.int64))
    assert events.resolved_steps == 2 and len(events) == 1


@pytest.mark.parametrize(("horizon_h", "days"), [(2, 1), (4, 1), (24, 1), (25, 2), (48, 2), (96, 4), (48 * 24, 48)])
def test_a_block_is_a_day_or_the_horizon_in_whole_days(horizon_h: int, days: int):
    assert block_length_ms(horizon_h * HOUR) == days * DAY


def test_day_blocks_follow_the_utc_calendar():
    times = np.array([START, START + DAY - 1, START + DAY, START + 2 * DAY + 5 * HOUR], dtype=np.int64)
    blocks = day_blocks(time_ms=times, block_ms=DAY)
    assert blocks[0] == blocks[1] != blocks[2] != blocks[3]
    two = day_blocks(time_ms=times, block_ms=2 * DAY)
    assert two[2] == two[3] or two[0] == two[2]  # two-day blocks pair the days up
    with pytest.raises(ValueError):
        day_blocks(time_ms=times, block_ms=HOUR)


def test_a_resample_draws_whole_days():
    """Values that are constant within a day and differ between days: every resampled mean is a
    mean of whole days, so with two days of one and three observations the means are from a set."""
    times = np.array([START, START + DAY, START + DAY + HOUR, START + DAY + 2 * HOUR], dtype=np.int64)
    values = np.array([0.0, 1.0, 1.0, 1.0])
    ci = mean_interval(values, blocks=day_blocks(time_ms=times, block_ms=DAY), reps=500, rng=figure_rng(0, "t"))
    assert ci is not None
    possible = {0.0, 0.75, 1.0}  # days drawn: {0, 0}, {0, 1} in any order, {1, 1}
    assert ci[0] in possible and ci[1] in possible and ci[0] < ci[1]


def test_day_block_intervals_cover_and_single_draws_would_not():
    """Observations that share a day move together (a day effect). Over 300 simulated samples the
    day-block 95 % interval covers the true mean about 95 % of the time; resampling observations one
    by one, as if independent, covers it far less often."""
    rng = np.random.default_rng(11)
    days, per_day, reps = 40, 12, 400
    times = (START + np.repeat(np.arange(days), per_day) * DAY + np.tile(np.arange(per_day), days) * HOUR).astype(
        np.int64
    )
    by_day = day_blocks(time_ms=times, block_ms=DAY)
    one_by_one = np.arange(times.shape[0], dtype=np.int64)
    covered_days = covered_single = 0
    trials = 300
    for k in range(trials):
        values = np.repeat(rng.normal(0, 1, days), per_day) + rng.normal(0, 0.3, days * per_day)  # true mean 0
        lo, hi = mean_interval(values, blocks=by_day, reps=reps, rng=figure_rng(k, "days"))  # type: ignore[misc]
        covered_days += lo <= 0 <= hi
        lo, hi = mean_interval(values, blocks=one_by_one, reps=reps, rng=figure_rng(k, "one"))  # type: ignore[misc]
        covered_single += lo <= 0 <= hi
    assert 0.88 <= covered_days / trials <= 0.99
    assert covered_single / trials < 0.6


def test_the_same_seed_gives_the_same_interval():
    values = np.random.default_rng(1).normal(size=200)
    blocks = np.repeat(np.arange(20), 10)
    one = mean_interval(values, blocks=blocks, reps=300, rng=figure_rng(7, "x"))
    assert one == mean_interval(values, blocks=blocks, reps=300, rng=figure_rng(7, "x"))
    assert one != mean_interval(values, blocks=blocks, reps=300, rng=figure_rng(8, "x"))


def test_the_logistic_fit_recovers_known_coefficients():
    rng = np.random.default_rng(5)
    n = 20_000
    z = rng.normal(0, 3, n)  # log-odds as wide as the baseline's
    s = rng.normal(0, 1, n)
    true = np.array([0.6, 0.8])
    y = (rng.random(n) < 1 / (1 + np.exp(-(true[0] * z + true[1] * s)))).astype(np.float64)
    w = fit_logistic(features=np.column_stack((z, s)), y=y, prior=np.array([1.0, 0.0]))
    np.testing.assert_allclose(w, true, atol=0.05)
    # The baseline's own coefficient, the size term absent: its share of the truth survives.
    only = fit_logistic(features=z[:, None], y=y, prior=np.array([1.0]))
    assert 0.4 < only[0] < 0.7


def test_the_fit_stays_finite_on_a_separable_sample():
    z = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    y = (z > 0).astype(np.float64)
    w = fit_logistic(features=np.column_stack((z, z)), y=y, prior=np.array([1.0, 0.0]))
    assert np.all(np.isfinite(w)) and np.abs(w).max() < 50


def test_cascade_days_are_violent_hours_or_loud_liquidations():
    rng = np.random.default_rng(2)
    n = 20 * 288
    r = rng.normal(0, 0.001, n)
    r[12 * 288 + 100 : 12 * 288 + 106] = -0.006  # day 12: 3.6 % down in half an hour, ~10 hourly sigmas
    close = 50_000 * np.exp(np.cumsum(r))
    open_time = START + BASE_BAR_MS * np.arange(n, dtype=np.int64)
    day0 = START // DAY
    found = cascade_days(open_time=open_time, close=close) - day0
    assert found.tolist() == [12]
    # A liquidation burst on day 15 (50 times the hourly mean); steady liquidations elsewhere.
    t = np.arange(START + 8 * DAY, START + 20 * DAY, HOUR, dtype=np.int64)
    usd = np.full(t.shape[0], 1e5)
    usd[(t - START) // DAY == 15] = 0
    usd[np.flatnonzero((t - START) // DAY == 15)[3]] = 5e6 * 12
    liq = LiquidationEvents(
        time_ms=t, long=np.ones(t.shape[0], dtype=bool), usd=usd, start_ms=int(t[0]), end_ms=int(t[-1])
    )
    assert (cascade_days(open_time=open_time, close=close, liquidations=liq) - day0).tolist() == [12, 15]
    # The first days have no week of history before them: their yardstick is what history there is.
    assert cascade_days(open_time=open_time[:10], close=close[:10]).shape[0] == 0


def test_variants_share_the_walk_and_equal_their_separate_runs():
    from heatmaps.engine.backtest import backtest_magnets, backtest_variants
    from tests.heatmaps.engine.magnet_series import random_walk

    walk = random_walk(12, seed=4)
    bands = [None, (50.0, 100.0)]
    both = backtest_variants(bars=walk, timeframe="24h", every_ms=HOUR, horizon_ms=12 * HOUR, bands=bands)
    for band, result in zip(bands, both, strict=True):
        alone = backtest_magnets(bars=walk, timeframe="24h", every_ms=HOUR, horizon_ms=12 * HOUR, leverages=band)
        assert result.summary == alone.summary
    full, high = both[0].steps, both[1].steps
    np.testing.assert_array_equal(full.time_ms, high.time_ms)
    # High leverage liquidates near the price: the band's peaks sit closer than the whole map's.
    near = np.nanmedian(np.log(high.upper / high.price)) < np.nanmedian(np.log(full.upper / full.price))
    assert near and not np.array_equal(full.upper, high.upper, equal_nan=True)
    with pytest.raises(ValueError, match="no leverage tier"):
        backtest_magnets(bars=walk, timeframe="24h", leverages=(200.0, 300.0))


def test_the_best_variant_is_marked_only_where_its_interval_excludes_the_others():
    from heatmaps.engine.backtest import league_table

    def summary(r2: float, ci: list[float] | None) -> dict[str, Any]:
        first: dict[str, Any] = {"events": 40, "share_bigger_first": 0.5, "share_bigger_first_ci95": [0.4, 0.6]}
        first |= {"excess_bigger_first": 0.0, "excess_bigger_first_ci95": [-0.1, 0.1]}
        compared: dict[str, Any] = {"scored_events": 20, "log_loss_difference": -r2, "log_loss_difference_ci95": None}
        compared["pseudo_r2"] = {"incremental": r2, "incremental_ci95": ci}
        return {"first_reach": first, "comparison": compared if ci else None}

    clear = league_table([("a", summary(0.05, [0.02, 0.08])), ("b", summary(0.0, [-0.01, 0.01]))])
    assert [row["best"] for row in clear] == [True, False]
    overlap = league_table([("a", summary(0.05, [0.005, 0.08])), ("b", summary(0.0, [-0.01, 0.01]))])
    assert not any(row["best"] for row in overlap)
    touching = league_table([("a", summary(0.0002, [0.00001, 0.0004])), ("b", summary(-0.0004, [-0.001, -0.00001]))])
    assert not any(row["best"] for row in touching)  # apart, but by less than the margin
    alone = league_table([("a", summary(0.05, [0.02, 0.08])), ("b", summary(0.0, None))])
    assert not any(row["best"] for row in alone)  # nothing to be better than
    assert alone[1]["incremental_pseudo_r2"] is None


def test_another_model_is_scored_by_the_same_protocol():
    """The walk draws each step's map through ``column_at``: v1 by default, any model with the same contract."""
    import dataclasses

    from heatmaps.engine.backtest import backtest_variants, last_column_at
    from tests.heatmaps.engine.magnet_series import random_walk

    walk = random_walk(10, seed=6)
    calls: list[int] = []

    def longs_only(**kw: Any) -> Any:  # a "model" whose map holds no shorts
        calls.append(kw["t_ms"])
        grid = last_column_at(**kw)
        return None if grid is None else dataclasses.replace(grid, short=grid.short * 0, tier_short=grid.tier_short * 0)

    kw: dict[str, Any] = {"bars": walk, "timeframe": "24h", "every_ms": HOUR, "horizon_ms": 6 * HOUR, "bootstrap": 0}
    v1 = backtest_variants(**kw)[0]
    other = backtest_variants(**kw, column_at=longs_only)[0]
    assert calls == v1.steps.time_ms.tolist()  # one map per step
    assert np.isnan(other.steps.upper).all() and np.isfinite(v1.steps.upper).any()
    np.testing.assert_array_equal(other.steps.lower, v1.steps.lower)
    assert other.summary["steps"]["events"] == 0  # no two-sided step: nothing to score
