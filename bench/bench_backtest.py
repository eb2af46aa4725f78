"""How long a one-year walk-forward backtest of the clusters takes (heatmaps/engine/backtest/).

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python bench/bench_backtest.py

Steps over the last 365 days of ~2 years of synthetic 5-minute bars (the engine benchmark's
series, deterministic seed), per timeframe with its default step and horizon; engine only, no
database. Two runs per timeframe: the whole map alone (``backtest_magnets``: the walk, events,
2 000 day-block resamples per interval, the two logistic fits, the regimes), and the league the
daily task stores (``backtest_variants``: the whole map and its three leverage bands read off the
same runs). Target: the 1w backtest (2 190 four-hour steps) in under 10 s on one core. Then the
calibration of the tier weights (heatmaps/engine/calibration.py) over the same year, with 10 000 and
100 000 recorded liquidations.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import synthetic_bars

from heatmaps.engine import TIMEFRAMES, ModelParams, backtest_magnets, resolve_steps
from heatmaps.engine.backtest import backtest_variants
from heatmaps.engine.calibration import calibrate_tiers

TARGET_1W_S = 10.0
DAY_MS = 86_400_000
BANDS = [None, (1.0, 10.0), (10.000001, 49.999999), (50.0, 1e9)]  # as heatmaps.validity.leverage_bands


def main() -> None:
    bars = synthetic_bars()
    start = int(bars.open_time[-1]) - 365 * DAY_MS
    params = ModelParams()
    print(f"{len(bars):,} 5m bars; steps over the last 365 days")
    for key in ("24h", "1w", "1m"):
        every, horizon = resolve_steps(TIMEFRAMES[key], None, None)
        started = time.perf_counter()
        result = backtest_magnets(bars=bars, timeframe=key, params=params, start_ms=start)
        alone = time.perf_counter() - started
        started = time.perf_counter()
        backtest_variants(bars=bars, timeframe=key, params=params, start_ms=start, bands=BANDS)
        league = time.perf_counter() - started
        steps, counts = len(result.steps), result.summary["steps"]
        note = f"  (target <= {TARGET_1W_S:.0f} s)" if key == "1w" else ""
        print(
            f"{key:>4}: {steps:>5} steps every {every // 3_600_000} h, horizon {horizon // 3_600_000} h, "
            f"{counts['resolved']} resolved, {counts['events']} events: {alone:6.2f} s "
            f"({alone / max(steps, 1) * 1000:.2f} ms a step){note}; with the 3 leverage bands {league:6.2f} s"
        )
    year = bars.open_time >= start
    rng = np.random.default_rng(0)
    for count in (10_000, 100_000):
        times = np.sort(rng.integers(start + 4 * DAY_MS, int(bars.open_time[-1]), count))
        at = np.searchsorted(bars.open_time, times) - 1
        started = time.perf_counter()
        calibrate_tiers(
            time_ms=times,
            price=bars.close[at] * rng.uniform(0.97, 0.995, count),  # longs a little below the price
            long=np.ones(count, dtype=bool),
            usd=np.full(count, 10_000.0),
            bar_open_time=bars.open_time[year],
            bar_high=bars.high[year],
            bar_low=bars.low[year],
            bar_close=bars.close[year],
            params=params,
        )
        print(f"calibration, a year of bars, {count:,} liquidations: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
