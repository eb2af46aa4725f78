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

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from heatmaps.engine.backtest.baseline import random_walk_upper_first
from heatmaps.engine.backtest.scoring import (
    MIN_FIT_STEPS,
    RELIABILITY_BINS,
    _first_reach,
    _modelled_vs_realised,
    _same_distance,
    _step_counts,
)
from heatmaps.engine.backtest.walk import (
    DEFAULT_STEPS,
    LiquidationEvents,
    Steps,
    _walk,
    last_column_at,
    resolve_steps,
)
from heatmaps.engine.inputs import (
    BASE_BAR_MS,
    TIMEFRAMES,
    Buckets,
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
    bootstrap: int = 2000,
    seed: int = 0,
) -> MagnetBacktest:
    """Walk forward over 5-minute ``bars``: one step every ``every_ms`` from ``start_ms`` (default:
    the first step with a full warm-up and window), as long as the horizon after it is in the data."""
    tf = TIMEFRAMES[timeframe] if isinstance(timeframe, str) else timeframe
    every_ms, horizon_ms = resolve_steps(tf, every_ms, horizon_ms)
    params = (params or ModelParams()).validate()
    if bars.bar_ms != BASE_BAR_MS:
        raise ValueError("backtest_magnets expects 5-minute base bars")
    if every_ms <= 0 or every_ms % tf.bar_ms:
        raise ValueError(f"the step must be a positive multiple of the {tf.key} map's {tf.bar_ms // 60_000}-minute bar")
    if horizon_ms < BASE_BAR_MS or horizon_ms % BASE_BAR_MS:
        raise ValueError("the horizon must be a positive multiple of 5 minutes")
    base = carry_open_interest(bars)
    steps = _walk(base=base, tf=tf, params=params, every_ms=every_ms, horizon_ms=horizon_ms, start_ms=start_ms)
    block = max(1, math.ceil(horizon_ms / every_ms))  # steps whose horizons overlap move together
    rng = np.random.default_rng(seed)
    summary: dict[str, Any] = {
        "steps": _step_counts(steps),
        "first_reach": _first_reach(steps, block=block, bootstrap=bootstrap, rng=rng),
        "same_distance": _same_distance(steps, block=block, bootstrap=bootstrap, rng=rng),
        "modelled_vs_realised": _modelled_vs_realised(steps, liquidations),
    }
    return MagnetBacktest(timeframe=tf, every_ms=every_ms, horizon_ms=horizon_ms, steps=steps, summary=summary)


__all__ = [
    "DEFAULT_STEPS",
    "MIN_FIT_STEPS",
    "RELIABILITY_BINS",
    "LiquidationEvents",
    "MagnetBacktest",
    "Steps",
    "backtest_magnets",
    "last_column_at",
    "random_walk_upper_first",
    "resolve_steps",
]
