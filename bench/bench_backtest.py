"""How long a one-year walk-forward backtest of the clusters takes (heatmaps/engine/backtest/).

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python bench/bench_backtest.py

Steps over the last 365 days of ~2 years of synthetic 5-minute bars (the engine benchmark's
series, deterministic seed), per timeframe with its default step and horizon; engine only, no
database. Two runs per timeframe: the whole map alone (``backtest_magnets``: the walk, events,
2 000 day-block resamples per interval, the two logistic fits, the regimes), and the league the
daily task stores (``backtest_variants``: the whole map and its three leverage bands read off the
same runs). Target: the 1w backtest (2 190 four-hour steps) in under 10 s on one core.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import synthetic_bars

from heatmaps.engine import TIMEFRAMES, ModelParams, backtest_magnets, resolve_steps
from heatmaps.engine.backtest import backtest_variants

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


if __name__ == "__main__":
    main()
