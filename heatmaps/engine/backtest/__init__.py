"""Does the map's "magnet" work? A walk-forward backtest of its clusters, pure numpy over arrays.

At each step ``t`` (epoch-aligned, every ``every_ms``) the map is the one ``compute_heatmap`` would
draw from the base bars that closed by ``t``: the same buckets, window, warm-up and price grid.
Its largest cluster above the price and its largest below are then followed over the base bars
of the next ``horizon_ms``: which of the two peaks does price reach first, if either?

Why not one ``run_model`` over the whole history, read column by column: the map at ``t`` is
drawn on a grid spanning *its* window's low and high, and a position is swept when price trades
through the centre of its bin on that grid, so the state at ``t`` depends on the grid at ``t``;
one fixed grid would give other bins, other sweeps and other clusters, and a grid spanning the
whole history would also leak the future range into every step. What does not depend on the grid
is computed once for the whole history: the carried open interest and the buckets. Per step the
engine's own flow, placement and closed-form end state (``run_end_state``) give the last column
in one vectorised pass over the step's run (warm-up + window), so a step costs the same whatever
the length of the history, and the result equals ``compute_heatmap`` on data up to ``t``.

The baseline is distance alone: for a driftless random walk in log price the chance of reaching
the upper level first is ``d_below / (d_above + d_below)`` (log distances).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from heatmaps.engine.backtest import regimes as regime_rules
from heatmaps.engine.backtest.baseline import random_walk_upper_first
from heatmaps.engine.backtest.events import first_of_each, group_events
from heatmaps.engine.backtest.league import league_table
from heatmaps.engine.backtest.logistic import fit_logistic
from heatmaps.engine.backtest.regimes import cascade_days
from heatmaps.engine.backtest.resampling import block_length_ms, day_blocks, mean_interval
from heatmaps.engine.backtest.scoring import (
    MIN_FIT_EVENTS,
    RELIABILITY_BINS,
    Scoring,
    comparison,
    first_reach,
    modelled_vs_realised,
    regimes,
    resolved_events,
    same_distance,
    step_counts,
)
from heatmaps.engine.backtest.walk import (
    DEFAULT_STEPS,
    ColumnAt,
    LiquidationEvents,
    Steps,
    _walk,
    last_column_at,
    leverage_band,
    resolve_steps,
)
from heatmaps.engine.inputs import (
    BASE_BAR_MS,
    TIMEFRAMES,
    Buckets,
    IntArray,
    ModelParams,
    Timeframe,
    carry_open_interest,
)


@dataclass(frozen=True, slots=True)
class MagnetBacktest:
    timeframe: Timeframe
    every_ms: int
    horizon_ms: int
    steps: Steps
    summary: dict[str, Any]  # the report; shape documented in docs/model.md


def backtest_magnets(
    *,
    bars: Buckets,
    timeframe: Timeframe | str,
    params: ModelParams | None = None,
    every_ms: int | None = None,
    horizon_ms: int | None = None,
    start_ms: int | None = None,
    liquidations: LiquidationEvents | None = None,
    leverages: tuple[float, float] | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
) -> MagnetBacktest:
    """Walk forward over 5-minute ``bars``: one step every ``every_ms`` from ``start_ms`` (default:
    the first step with a full warm-up and window), as long as the horizon after it is in the data.

    ``params`` is the model; ``leverages`` (lo, hi) restricts the map to the positions of the tiers
    in that band (a variant scored on the same steps). ``bootstrap`` resamples of calendar-day blocks
    give the intervals, drawn from ``seed``: the same inputs give the same report."""
    return backtest_variants(
        bars=bars,
        timeframe=timeframe,
        params=params,
        every_ms=every_ms,
        horizon_ms=horizon_ms,
        start_ms=start_ms,
        liquidations=liquidations,
        bands=(leverages,),
        bootstrap=bootstrap,
        seed=seed,
    )[0]


def backtest_variants(
    *,
    bars: Buckets,
    timeframe: Timeframe | str,
    params: ModelParams | None = None,
    every_ms: int | None = None,
    horizon_ms: int | None = None,
    start_ms: int | None = None,
    liquidations: LiquidationEvents | None = None,
    bands: Sequence[tuple[float, float] | None] = (None,),
    column_at: ColumnAt | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
) -> list[MagnetBacktest]:
    """``backtest_magnets`` for several leverage bands at once (None: all tiers), one report each,
    on the same steps, horizons, spreads, day blocks and regimes: the map of each step is run once.
    ``column_at`` is the model (default v1; see ``walk.ColumnAt``)."""
    tf = TIMEFRAMES[timeframe] if isinstance(timeframe, str) else timeframe
    every_ms, horizon_ms = resolve_steps(tf, every_ms, horizon_ms)
    params = (params or ModelParams()).validate()
    if bars.bar_ms != BASE_BAR_MS:
        raise ValueError("backtest_magnets expects 5-minute base bars")
    if every_ms <= 0 or every_ms % tf.bar_ms:
        raise ValueError(f"the step must be a positive multiple of the {tf.key} map's {tf.bar_ms // 60_000}-minute bar")
    if horizon_ms < BASE_BAR_MS or horizon_ms % BASE_BAR_MS:
        raise ValueError("the horizon must be a positive multiple of 5 minutes")
    for band in bands:
        if band is not None and not any(band[0] <= lev <= band[1] for lev in params.leverages):
            raise ValueError(f"no leverage tier between {band[0]:g}x and {band[1]:g}x")
    base = carry_open_interest(bars)
    walked = _walk(
        base=base,
        tf=tf,
        params=params,
        every_ms=every_ms,
        horizon_ms=horizon_ms,
        start_ms=start_ms,
        bands=bands,
        column_at=column_at,
    )
    scoring = Scoring(block_ms=block_length_ms(horizon_ms), reps=bootstrap, seed=seed)
    cascade = cascade_days(open_time=base.open_time, close=base.close, liquidations=liquidations)
    out = []
    for steps in walked:
        summary = _summary(
            steps, base=base, scoring=scoring, cascade=cascade, horizon_ms=horizon_ms, liquidations=liquidations
        )
        out.append(MagnetBacktest(timeframe=tf, every_ms=every_ms, horizon_ms=horizon_ms, steps=steps, summary=summary))
    return out


def _summary(
    steps: Steps,
    *,
    base: Buckets,
    scoring: Scoring,
    cascade: IntArray,
    horizon_ms: int,
    liquidations: LiquidationEvents | None,
) -> dict[str, Any]:
    events = resolved_events(steps, cascade_days=cascade)
    compared, fitted = comparison(events, scoring)
    calm_days, cascade_count = _regime_days(base, steps, horizon_ms=horizon_ms, cascade=cascade)
    return {
        "steps": step_counts(steps, events),
        "first_reach": {"block_days": scoring.block_ms // regime_rules.DAY_MS, **first_reach(events, scoring)},
        "comparison": compared,
        "regimes": regimes(
            events,
            fitted,
            scoring,
            calm_days=calm_days,
            cascade_days=cascade_count,
            definition={
                "k": regime_rules.CASCADE_K,
                "trail_days": regime_rules.TRAIL_MS // regime_rules.DAY_MS,
                "liquidation_multiple": regime_rules.LIQUIDATION_MULTIPLE,
            },
        ),
        "same_distance": same_distance(steps, scoring),
        "modelled_vs_realised": modelled_vs_realised(steps, liquidations),
    }


def _regime_days(base: Buckets, steps: Steps, *, horizon_ms: int, cascade: IntArray) -> tuple[int, int]:
    """Calm and cascade days with bars from the first step to the end of the last step's horizon."""
    if not len(steps):
        return 0, 0
    lo, hi = int(steps.time_ms[0]), int(steps.time_ms[-1]) + horizon_ms
    inside = (base.open_time >= lo) & (base.open_time < hi)
    days = np.unique(base.open_time[inside] // regime_rules.DAY_MS)
    hot = int(np.isin(days, cascade).sum())
    return int(days.shape[0]) - hot, hot


__all__ = [
    "DEFAULT_STEPS",
    "MIN_FIT_EVENTS",
    "RELIABILITY_BINS",
    "ColumnAt",
    "LiquidationEvents",
    "MagnetBacktest",
    "Steps",
    "backtest_magnets",
    "backtest_variants",
    "block_length_ms",
    "cascade_days",
    "day_blocks",
    "first_of_each",
    "fit_logistic",
    "group_events",
    "last_column_at",
    "league_table",
    "leverage_band",
    "mean_interval",
    "random_walk_upper_first",
    "resolve_steps",
]
