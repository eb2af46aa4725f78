"""The model science on a year of data: how long the walk-forward backtest and the calibration take.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python bench/bench_year_science.py

A synthetic year of 5-minute bars (105 120, the engine benchmark's series with open interest and
mark-price candles, deterministic seed) and 100 000 synthetic liquidations at the market price,
long or short. Engine only, no database (loading a year of bars is bench_queries' figure). Per
timeframe (24h, 1w, default step and horizon): model v1 alone (``backtest_magnets``), model v2 alone
(its map per step, ``heatmaps.engine.backtest.v2``), and the league as ``backtest_magnets`` stores it
(v1, its three leverage bands and v2 on the same steps). Then the calibration of the tier weights
alone and of the weights and half-lives together (``calibrate_tiers``). docs/model.md, "A year of
real open interest", quotes these figures.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import synthetic_bars, with_mark_candles

from heatmaps.engine import TIMEFRAMES, ModelParams, backtest_magnets, resolve_steps
from heatmaps.engine.backtest import backtest_variants
from heatmaps.engine.backtest.v2 import v2_bars, v2_column_at
from heatmaps.engine.calibration import calibrate_tiers, prior_half_lives
from heatmaps.engine.model_v2 import ModelV2Params

YEAR_BARS = 105_120  # 365 days of 5-minute bars
LIQUIDATIONS = 100_000
BANDS = [None, (1.0, 10.0), (10.000001, 49.999999), (50.0, 1e9)]  # as heatmaps.validity.leverage_bands


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    bars = with_mark_candles(synthetic_bars(n=YEAR_BARS))
    params = ModelParams()
    v2 = ModelV2Params().validate()
    swept = v2_bars(bars)
    print(f"{len(bars):,} 5m bars (a year), {LIQUIDATIONS:,} liquidations; one core")
    for key in ("24h", "1w"):
        every, horizon = resolve_steps(TIMEFRAMES[key], None, None)
        steps = len(backtest_magnets(bars=bars, timeframe=key, params=params, bootstrap=0).steps)
        v1 = partial(backtest_variants, bars=bars, timeframe=key, params=params)
        v2_walk = partial(
            backtest_variants, bars=swept, timeframe=key, params=v2.v1_params(), column_at=v2_column_at(v2)
        )
        v1_s = timed(v1)
        v2_s = timed(v2_walk)
        started = time.perf_counter()
        v1(bands=BANDS)
        v2_walk()
        league_s = time.perf_counter() - started
        print(
            f"{key:>4}: {steps:>6,} steps every {every // 60_000} min, horizon {horizon // 3_600_000} h: "
            f"v1 {v1_s:6.2f} s, v2 {v2_s:6.2f} s, league (v1 + 3 bands + v2) {league_s:6.2f} s"
        )
    rng = np.random.default_rng(0)
    times = np.sort(rng.integers(int(bars.open_time[0]) + 4 * 86_400_000, int(bars.open_time[-1]), LIQUIDATIONS))
    at = np.searchsorted(bars.open_time, times) - 1
    data: dict[str, Any] = dict(
        time_ms=times,
        price=bars.close[at],
        long=rng.random(LIQUIDATIONS) < 0.5,
        usd=rng.lognormal(8.0, 1.5, LIQUIDATIONS),
        bar_open_time=bars.open_time,
        bar_high=bars.high,
        bar_low=bars.low,
        bar_close=bars.close,
        params=params,
    )
    weights_s = timed(partial(calibrate_tiers, **data))
    both_s = timed(partial(calibrate_tiers, **data, half_lives=prior_half_lives(params.leverages)))
    print(
        f"calibration, {LIQUIDATIONS:,} liquidations: weights {weights_s:.2f} s, weights and half-lives {both_s:.2f} s"
    )


if __name__ == "__main__":
    main()
