"""Synthetic 5-minute series whose answer to "do clusters attract price?" is known by construction.

``random_walk``: a driftless random walk in log price; nothing in it knows about the map, so the
clusters can predict nothing beyond distance. ``attracted``: the same walk plus a drift, at every
step, towards the peak of the larger of the map's two largest clusters (above and below), built
from the data up to that step, until price reaches it.
"""

from __future__ import annotations

import numpy as np

from heatmaps.engine import BASE_BAR_MS, TIMEFRAMES, Buckets, ModelParams, aggregate, find_clusters, last_column_at

START_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC
SIGMA = 0.0015  # log-price volatility per 5-minute bar


def _bars(close: np.ndarray, rng: np.random.Generator) -> Buckets:
    n = close.shape[0]
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = np.abs(rng.normal(0, 1, (2, n))) * SIGMA * close * 0.4
    volume = rng.gamma(2.0, 150.0, n)
    taker = volume * np.clip(rng.normal(0.5, 0.12, n), 0, 1)
    oi = 2e9 * np.exp(np.cumsum(rng.normal(0.0002, 0.002, n)))
    return Buckets.from_arrays(
        open_time=START_MS + BASE_BAR_MS * np.arange(n, dtype=np.int64),
        high=np.maximum(open_, close) + wick[0],
        low=np.minimum(open_, close) - wick[1],
        close=close,
        volume=volume,
        taker_buy=taker,
        oi_value=oi,
    )


def random_walk(days: int, *, seed: int) -> Buckets:
    rng = np.random.default_rng(seed)
    n = days * 288
    return _bars(50_000 * np.exp(np.cumsum(rng.normal(0, SIGMA, n))), rng)


def attracted(
    days: int, *, seed: int, timeframe: str = "24h", every_ms: int = 3_600_000, pull: float = 0.25
) -> Buckets:
    """A walk pulled towards its own bigger cluster by ``pull`` x SIGMA per bar.

    The bars' wicks, volumes and open interest are drawn up front (so the map's inputs other
    than price are those of the random walk); the close is then built step by step."""
    rng = np.random.default_rng(seed)
    tf = TIMEFRAMES[timeframe]
    params = ModelParams()
    n = days * 288
    shocks = rng.normal(0, SIGMA, n)
    noise = _bars(np.full(n, 50_000.0), rng)  # wick sizes, volume, taker and OI to reuse
    wick_up = (noise.high - 50_000.0) / 50_000.0
    wick_dn = (50_000.0 - noise.low) / 50_000.0
    log_close = np.empty(n)
    per_step = every_ms // BASE_BAR_MS
    level = price = 50_000.0
    target = 0.0  # +1 drift up towards `level`, -1 down, 0 none
    x = np.log(price)
    for i in range(n):
        if i % per_step == 0 and i >= 2 * tf.columns * tf.bar_ms // BASE_BAR_MS:
            bars = _assemble(log_close[:i], wick_up[:i], wick_dn[:i], noise, i)
            grid = last_column_at(
                buckets=aggregate(bars, tf.bar_ms), timeframe=tf, params=params, t_ms=START_MS + i * BASE_BAR_MS
            )
            target = 0.0
            if grid is not None:
                clusters = find_clusters(grid, limit=10_000)
                above = next((c for c in clusters if c.side == "short"), None)
                below = next((c for c in clusters if c.side == "long"), None)
                if above is not None and below is not None:
                    big = above if above.usd >= below.usd else below
                    level, target = big.peak_price, (1.0 if big is above else -1.0)
        if target and (np.exp(x) >= level if target > 0 else np.exp(x) <= level):
            target = 0.0  # reached: the pull stops until the next step
        x += shocks[i] + target * pull * SIGMA
        log_close[i] = x
    return _assemble(log_close, wick_up, wick_dn, noise, n)


def _assemble(log_close: np.ndarray, wick_up: np.ndarray, wick_dn: np.ndarray, noise: Buckets, n: int) -> Buckets:
    close = np.exp(log_close[:n])
    open_ = np.concatenate((close[:1], close[:-1]))
    return Buckets.from_arrays(
        open_time=noise.open_time[:n],
        high=np.maximum(open_, close) * (1 + wick_up[:n]),
        low=np.minimum(open_, close) * (1 - wick_dn[:n]),
        close=close,
        volume=noise.volume[:n],
        taker_buy=noise.taker_buy[:n],
        oi_value=noise.oi_value[:n],
    )
