"""The bundled BTCUSDT sample (real 5m candles and funding, simulated open interest) as alert inputs."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np

from accounts.alerts.market import Bars, Series

SAMPLE = Path(__file__).resolve().parents[3] / "heatmaps" / "marketdata" / "sample_data"


@cache
def btc_bars() -> Bars:
    data = np.loadtxt(SAMPLE / "BTCUSDT-5m.csv", delimiter=",", skiprows=1, usecols=(0, 2, 3, 4, 5))
    return Bars(data[:, 0].astype(np.int64), data[:, 1], data[:, 2], data[:, 3], data[:, 4])


@cache
def btc_funding() -> Series:
    with (SAMPLE / "BTCUSDT-funding-8h.csv").open() as f:
        rows = list(csv.DictReader(f))
    return Series(np.array([int(r["open_time_ms"]) for r in rows]), np.array([float(r["funding_rate"]) for r in rows]))


@cache
def btc_open_interest() -> Series:
    """Open interest in USD, stamped at each bar's close (SIMULATED, see the sample README)."""
    with (SAMPLE / "BTCUSDT-metrics-5m-SIMULATED.csv").open() as f:
        rows = list(csv.DictReader(f))
    times = [int(datetime.fromisoformat(r["create_time"]).replace(tzinfo=UTC).timestamp() * 1000) for r in rows]
    return Series(np.array(times), np.array([float(r["sum_open_interest_value"]) for r in rows]))
