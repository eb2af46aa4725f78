"""heatmap_from_files on two years of Binance dump files (24 monthly kline ZIPs, 730 daily metrics
ZIPs, ~210 000 bars), 1y view: wall time including parsing. Prints figures; asserts nothing.

The files are synthetic but byte-for-byte in Binance's layouts; they are generated once into var/.
Run: make bench  (or .venv/bin/python bench/bench_from_files.py)
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "bench-dumps"
START_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
BARS = 730 * 288
HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)
TARGET_S = 1.5
METRICS_HEADER = "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio"


def generate() -> None:
    if (OUT / "done").exists():
        return
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    close = 40_000 * np.exp(np.cumsum(rng.normal(0, 0.0015, BARS)))
    open_ = np.concatenate(([40_000.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0008, BARS)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0008, BARS)))
    volume = np.round(rng.gamma(2.0, 150.0, BARS), 3)
    taker = np.round(volume * rng.uniform(0.3, 0.7, BARS), 3)
    oi = 80_000 + np.cumsum(rng.normal(0, 40, BARS))
    times = START_MS + np.arange(BARS, dtype=np.int64) * 300_000
    months: dict[str, list[str]] = {}
    days: dict[str, list[str]] = {}
    for i in range(BARS):
        t = int(times[i])
        stamp = datetime.fromtimestamp(t / 1000, UTC)
        months.setdefault(f"{stamp:%Y-%m}", []).append(
            f"{t},{open_[i]:.1f},{high[i]:.1f},{low[i]:.1f},{close[i]:.1f},{volume[i]},{t + 299_999},"
            f"{volume[i] * close[i]:.4f},{1000 + i % 500},{taker[i]},{taker[i] * close[i]:.4f},0"
        )
        created = datetime.fromtimestamp((t + 300_000) / 1000, UTC)
        days.setdefault(f"{stamp:%Y-%m-%d}", []).append(
            f"{created:%Y-%m-%d %H:%M:%S},BTCUSDT,{oi[i]:.3f},{oi[i] * close[i]:.8f},,,,"
        )
    for month, lines in months.items():
        with zipfile.ZipFile(OUT / f"BTCUSDT-5m-{month}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"BTCUSDT-5m-{month}.csv", HEADER + "\n" + "\n".join(lines) + "\n")
    for day, lines in days.items():
        with zipfile.ZipFile(OUT / f"BTCUSDT-metrics-{day}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"BTCUSDT-metrics-{day}.csv", METRICS_HEADER + "\n" + "\n".join(lines) + "\n")
    (OUT / "done").write_text("ok")


def main() -> None:
    print("generating two years of dump files (first run only) …", flush=True)
    generate()
    env = {**os.environ, "LIQ_TESTING": "1"}
    samples = []
    cpu = []
    for _ in range(5):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "manage.py", "heatmap_from_files", "--klines", str(OUT / "BTCUSDT-5m-*.zip"),
             "--metrics", str(OUT / "BTCUSDT-metrics-*.zip"), "--timeframe", "1y", "--out", str(OUT / "1y.npz")],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        samples.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        print(result.stdout.strip())
    # CPU time (user + system) is what the command costs on an idle core; wall time on a shared
    # machine adds whatever else runs. Both are printed.
    print(f"heatmap_from_files, 1y from {BARS:,} bars (24 + 730 ZIP files): median {statistics.median(samples):.2f} s "
          f"wall (best {min(samples):.2f}, worst {max(samples):.2f}), median {statistics.median(cpu):.2f} s CPU "
          f"(process start, Django set-up, parsing, engine, writing); target <= {TARGET_S} s")  # fmt: skip


if __name__ == "__main__":
    main()
