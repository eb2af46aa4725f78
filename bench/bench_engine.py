"""Benchmark of the heat-map engine on ~2 years of synthetic 5-minute bars.

Run single-core for figures that match the targets, e.g.:

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python bench/bench_engine.py

Targets: all nine timeframes <= 20 ms, the 1y view alone <= 20 ms, peak memory <= 200 MB; model v2 (five
tiers, each with its own decay, sweeping on mark-price candles) at most 5x model v1's time for all nine.
"Before" is the engine as it was before its speed-up (issue 27), kept verbatim in
tests/heatmaps/engine/previous_engine.py (its maps are bit-identical, which is checked here too);
both are timed in this process, the before first. The data are generated (deterministic seed), not
market data.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from heatmaps.engine import (
    BASE_BAR_MS,
    TIMEFRAMES,
    Buckets,
    ModelParams,
    ModelV2Params,
    Timeframe,
    aggregate,
    compute_all_timeframes,
    compute_all_timeframes_v2,
    compute_heatmap,
    compute_heatmap_v2,
    price_edges,
)
from tests.heatmaps.engine import previous_engine

TARGET_ALL_MS = 20.0
TARGET_1Y_MS = 20.0
TARGET_PEAK_MB = 200.0
TARGET_V2_RATIO = 5.0


def synthetic_bars(n: int = 210_000, seed: int = 20260129) -> Buckets:
    """Random-walk price with volatility regimes, OI that builds in calm and unwinds in storms."""
    rng = np.random.default_rng(seed)
    start = 1_700_000_000_000 // BASE_BAR_MS * BASE_BAR_MS
    times = start + BASE_BAR_MS * np.arange(n, dtype=np.int64)
    vol = 0.0015 * np.exp(np.cumsum(rng.normal(0, 0.02, n)).clip(-1.5, 1.5))
    ret = rng.normal(0, 1, n) * vol
    close = 60_000 * np.exp(np.cumsum(ret))
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = np.abs(rng.normal(0, 1, (2, n))) * vol * close * 0.6
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    volume = rng.gamma(2.0, 150.0, n) * (1 + 400 * np.abs(ret))
    taker_buy = volume * np.clip(0.5 + ret / (4 * vol) + rng.normal(0, 0.05, n), 0, 1)
    calm = np.abs(ret) < 1.5 * vol
    oi_step = np.where(calm, rng.normal(0.0004, 0.0006, n), -np.abs(rng.normal(0.002, 0.003, n)))
    oi_value = 6e9 * np.exp(np.cumsum(oi_step - oi_step.mean()))
    return Buckets.from_arrays(
        open_time=times, high=high, low=low, close=close, volume=volume, taker_buy=taker_buy, oi_value=oi_value
    )


def with_mark_candles(bars: Buckets, seed: int = 20260130) -> Buckets:
    """The bars with mark-price candles on all but a few: the mark follows the last price's body with
    a share of its wicks (the index lags the spikes of one exchange), and 1 % of bars have none."""
    rng = np.random.default_rng(seed)
    n = len(bars)
    body_hi = np.maximum(bars.close, np.concatenate(([bars.close[0]], bars.close[:-1])))
    body_lo = np.minimum(bars.close, np.concatenate(([bars.close[0]], bars.close[:-1])))
    share = rng.uniform(0.2, 1.0, n)
    mark_high = np.minimum(body_hi + share * (bars.high - body_hi), bars.high)
    mark_low = np.maximum(body_lo - share * (body_lo - bars.low), bars.low)
    missing = rng.random(n) < 0.01
    mark_high[missing] = np.nan
    mark_low[missing] = np.nan
    return Buckets.from_arrays(
        open_time=bars.open_time,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=bars.volume,
        taker_buy=bars.taker_buy,
        oi_value=bars.oi_value,
        mark_high=mark_high,
        mark_low=mark_low,
    )


def slow_heatmap(bars: Buckets, tf: Timeframe, params: ModelParams) -> tuple[np.ndarray, np.ndarray]:
    """The straightforward implementation: Python loops over buckets, tiers and bins."""
    buckets = aggregate(
        bars.since(int(bars.open_time[-1]) // tf.bar_ms * tf.bar_ms - (2 * tf.columns - 1) * tf.bar_ms), tf.bar_ms
    )
    end = int(buckets.open_time[-1])
    window_start = end - (tf.columns - 1) * tf.bar_ms
    win = buckets.open_time >= window_start
    edges = price_edges(low=float(buckets.low[win].min()), high=float(buckets.high[win].max()), params=params).tolist()
    n_bins = params.n_bins
    centers = [(edges[b] + edges[b + 1]) / 2 for b in range(n_bins)]
    L = [0.0] * n_bins
    S = [0.0] * n_bins
    out_l = np.zeros((tf.columns, n_bins))
    out_s = np.zeros((tf.columns, n_bins))
    by_col = {int((t - window_start) // tf.bar_ms): j for j, t in enumerate(buckets.open_time.tolist())}
    prev_oi = None
    j_done = -1
    for col in range(-tf.columns, tf.columns):
        j = by_col.get(col)
        if j is not None:
            h, lo, c = float(buckets.high[j]), float(buckets.low[j]), float(buckets.close[j])
            oi = float(buckets.oi_value[j])
            if j_done >= 0 and prev_oi is not None:
                for b in range(n_bins):
                    if centers[b] >= lo:
                        L[b] = 0.0
                    if centers[b] <= h:
                        S[b] = 0.0
                d = oi - prev_oi
                if d < 0 and prev_oi > 0:
                    f = min(1.0, -d / prev_oi)
                    for b in range(n_bins):
                        L[b] *= 1 - f
                        S[b] *= 1 - f
                elif d > 0:
                    v, tb = float(buckets.volume[j]), float(buckets.taker_buy[j])
                    s = min(1.0, max(0.0, tb / v)) if v > 0 else 0.5
                    e = (h + lo + c) / 3
                    for lev, w in params.tiers:
                        for price, side, amount in (
                            (e * (1 - 1 / lev) / (1 - params.mmr), L, d * s * w),
                            (e * (1 + 1 / lev) / (1 + params.mmr), S, d * (1 - s) * w),
                        ):
                            for b in range(n_bins):
                                if edges[b] <= price < edges[b + 1]:
                                    side[b] += amount
                                    break
            prev_oi = oi
            j_done = j
        if col >= 0:
            out_l[col] = L
            out_s[col] = S
    return out_l, out_s


def best_ms(fn: Callable[[], object], repeat: int, clock: Callable[[], float] = time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=210_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--slow-timeframes", default="12h,24h", help="timeframes timed with the slow loop")
    args = parser.parse_args()

    params = ModelParams()
    t0 = time.perf_counter()
    bars = synthetic_bars(args.bars)
    gen_s = time.perf_counter() - t0
    days = args.bars * BASE_BAR_MS / 86_400_000
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    print(f"heat-map engine benchmark: {args.bars} synthetic 5m bars ({days:.0f} days), generated in {gen_s:.2f} s")
    print(f"numpy {np.__version__}, python {sys.version.split()[0]}, CPUs allowed: {affinity}, best of {args.repeat}")
    print()

    previous_engine.compute_all_timeframes(bars=bars, params=params)  # warm caches and imports
    before_all = best_ms(lambda: previous_engine.compute_all_timeframes(bars=bars, params=params), args.repeat)
    before = {
        key: best_ms(partial(previous_engine.compute_heatmap, bars=bars, timeframe=tf, params=params), args.repeat)
        for key, tf in TIMEFRAMES.items()
    }
    compute_all_timeframes(bars=bars, params=params)
    rows: list[tuple[str, int, int, float]] = []
    for key, tf in TIMEFRAMES.items():
        ms = best_ms(partial(compute_heatmap, bars=bars, timeframe=tf, params=params), args.repeat)
        rows.append((key, tf.columns, 2 * tf.columns, ms))
    all_ms = best_ms(lambda: compute_all_timeframes(bars=bars, params=params), args.repeat)
    # CPU time leaves out what a shared core spends on other processes during a call, which wall time
    # counts; with other work on the core the longer call rarely gets a clean run.
    before_cpu = best_ms(
        lambda: previous_engine.compute_all_timeframes(bars=bars, params=params), args.repeat, time.process_time
    )
    all_cpu = best_ms(lambda: compute_all_timeframes(bars=bars, params=params), args.repeat, time.process_time)
    one_year = next(r[3] for r in rows if r[0] == "1y")

    new_maps = compute_all_timeframes(bars=bars, params=params)
    old_maps = previous_engine.compute_all_timeframes(bars=bars, params=params)
    for key, grid in new_maps.items():
        old = old_maps[key]
        if not (grid.long.tobytes() == old.long.tobytes() and grid.short.tobytes() == old.short.tobytes()):
            print(f"  {key}: the maps differ from the previous pass's")
            return 2

    tracemalloc.start()
    compute_all_timeframes(bars=bars, params=params)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_mb = peak / 2**20

    print(f"{'timeframe':<10}{'columns':>8}{'run steps':>10}{'before ms':>11}{'after ms':>10}")
    for key, cols, steps, ms in rows:
        print(f"{key:<10}{cols:>8}{steps:>10}{before[key]:>11.2f}{ms:>10.2f}")
    print(
        f"{'sum':<10}{'':>8}{sum(r[2] for r in rows):>10}{sum(before.values()):>11.2f}"
        f"{sum(r[3] for r in rows):>10.2f}  (nine separate calls)"
    )
    print(
        f"{'all nine':<10}{'':>8}{'':>10}{before_all:>11.2f}{all_ms:>10.2f}  (one call; "
        f"{before_all / all_ms:.1f}x faster, maps bit-identical)"
    )
    print(f"{'all nine':<10}{'':>8}{'':>10}{before_cpu:>11.2f}{all_cpu:>10.2f}  (one call, CPU time)")
    print()

    slow_keys = [k.strip() for k in args.slow_timeframes.split(",") if k.strip()]
    per_step_fast: list[float] = []
    per_step_slow: list[float] = []
    print(f"{'slow loop':<10}{'steps':>8}{'slow ms':>11}{'fast ms':>11}{'ratio':>9}")
    for key in slow_keys:
        tf = TIMEFRAMES[key]
        slow = best_ms(partial(slow_heatmap, bars, tf, params), 1)
        fast = next(r[3] for r in rows if r[0] == key)
        # Sanity: the two implementations agree (to round-off) on what was timed.
        want_l, want_s = slow_heatmap(bars, tf, params)
        grid = compute_heatmap(bars=bars, timeframe=tf, params=params)
        scale = max(float(want_l.max()), float(want_s.max()), 1.0)
        diff = max(float(np.abs(grid.long - want_l).max()), float(np.abs(grid.short - want_s).max())) / scale
        if diff > 1e-9:
            print(f"  {key}: engine and slow loop DISAGREE (max diff {diff:.2e} of the grid max)")
            return 2
        per_step_slow.append(slow / (2 * tf.columns))
        per_step_fast.append(fast / (2 * tf.columns))
        print(f"{key:<10}{2 * tf.columns:>8}{slow:>11.1f}{fast:>11.2f}{slow / fast:>8.0f}x")
    total_steps = sum(2 * tf.columns for tf in TIMEFRAMES.values())
    slow_all = float(np.mean(per_step_slow)) * total_steps
    print(
        f"all nine, slow loop EXTRAPOLATED from the per-step cost above x {total_steps} steps: "
        f"{slow_all:,.0f} ms -> engine is {slow_all / all_ms:,.0f}x faster (before: {slow_all / before_all:,.0f}x)"
    )
    print()

    # Model v2: five tiers, each its own run with its own decay; once on last-price sweeps, once with
    # mark-price candles on 99 % of the bars.
    v2 = ModelV2Params()
    marked = with_mark_candles(bars)
    compute_all_timeframes_v2(bars=bars, params=v2)
    v2_all = best_ms(lambda: compute_all_timeframes_v2(bars=bars, params=v2), args.repeat)
    v2_cpu = best_ms(lambda: compute_all_timeframes_v2(bars=bars, params=v2), args.repeat, time.process_time)
    v2_mark = best_ms(lambda: compute_all_timeframes_v2(bars=marked, params=v2), args.repeat)
    v2_mark_cpu = best_ms(lambda: compute_all_timeframes_v2(bars=marked, params=v2), args.repeat, time.process_time)
    v2_1y = best_ms(partial(compute_heatmap_v2, bars=marked, timeframe="1y", params=v2), args.repeat)
    tracemalloc.start()
    compute_all_timeframes_v2(bars=marked, params=v2)
    _, v2_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    v2_ratio = v2_mark_cpu / all_cpu
    print(f"{'model v2':<36}{'v1 ms':>9}{'v2 ms':>9}{'ratio':>8}")
    print(f"{'all nine, last-price sweeps':<36}{all_ms:>9.2f}{v2_all:>9.2f}{v2_all / all_ms:>7.1f}x")
    print(f"{'all nine, last-price sweeps, CPU':<36}{all_cpu:>9.2f}{v2_cpu:>9.2f}{v2_cpu / all_cpu:>7.1f}x")
    print(f"{'all nine, mark candles':<36}{all_ms:>9.2f}{v2_mark:>9.2f}{v2_mark / all_ms:>7.1f}x")
    print(f"{'all nine, mark candles, CPU':<36}{all_cpu:>9.2f}{v2_mark_cpu:>9.2f}{v2_ratio:>7.1f}x")
    print(f"{'1y view alone, mark candles':<36}{one_year:>9.2f}{v2_1y:>9.2f}{v2_1y / one_year:>7.1f}x")
    print(f"{'peak memory, all nine (MB)':<36}{peak_mb:>9.1f}{v2_peak / 2**20:>9.1f}")
    print()

    checks = [
        ("all nine timeframes, one pass", all_ms, "ms", TARGET_ALL_MS),
        ("all nine timeframes, CPU time", all_cpu, "ms", TARGET_ALL_MS),
        ("1y view alone", one_year, "ms", TARGET_1Y_MS),
        ("peak memory of the all-nine pass", peak_mb, "MB", TARGET_PEAK_MB),
        ("model v2 all nine / v1, CPU time", v2_ratio, "x", TARGET_V2_RATIO),
        ("model v2 peak memory, all nine", v2_peak / 2**20, "MB", TARGET_PEAK_MB),
    ]
    ok = True
    for label, value, unit, target in checks:
        passed = value <= target
        ok &= passed
        print(f"{label:<36}{value:>9.1f} {unit}   target <= {target:.0f} {unit}   {'OK' if passed else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
