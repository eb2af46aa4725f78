"""Calm days and cascade days.

A published study of liquidation maps over 21 coins found them useful only during cascades; an
effect confined to a few violent days vanishes in an average over calm ones, so the figures are
also given per regime. A UTC calendar day is a *cascade day* when, at any 5-minute close in it,

- price has moved at least ``k`` (5) times its usual hourly move over the hour before: the
  absolute log change of the close over one hour, against the standard deviation of 5-minute
  log returns over the 7 days before that hour, scaled to an hour (× √12) — so the yardstick is
  known before the move and is the same for every timeframe; or
- where liquidations were recorded, the clock hour's recorded USD is at least 10 times the
  mean hourly recorded USD over the recorded span.

Every other day with data is *calm*. An event belongs to the day of the bar that reached its peak.
"""

from __future__ import annotations

import numpy as np

from heatmaps.engine.backtest.walk import LiquidationEvents
from heatmaps.engine.inputs import BASE_BAR_MS, FloatArray, IntArray

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
CASCADE_K = 5.0
TRAIL_MS = 7 * DAY_MS
LIQUIDATION_MULTIPLE = 10.0


def cascade_days(
    *,
    open_time: IntArray,
    close: FloatArray,
    liquidations: LiquidationEvents | None = None,
    k: float = CASCADE_K,
    trail_ms: int = TRAIL_MS,
    liquidation_multiple: float = LIQUIDATION_MULTIPLE,
) -> IntArray:
    """Sorted day numbers (``time_ms // DAY_MS``, UTC) of the cascade days among 5-minute bars."""
    days: list[IntArray] = []
    n = open_time.shape[0]
    if n >= 2:
        log_close = np.log(close)
        r = np.diff(log_close)  # r[j]: from the close of bar j to the close of bar j + 1
        c1 = np.concatenate(([0.0], np.cumsum(r)))
        c2 = np.concatenate(([0.0], np.cumsum(r * r)))
        # The bar whose close is one hour before bar i's close (gaps: the nearest bar at or after that time).
        back = np.searchsorted(open_time, open_time - HOUR_MS, side="left")
        move = np.abs(log_close - log_close[back])
        # Returns known when the hour started: those between bars both opening before it.
        hi = np.maximum(back - 1, 0)
        lo = np.minimum(np.searchsorted(open_time, open_time[back] - trail_ms, side="left"), hi)
        count = (hi - lo).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (c1[hi] - c1[lo]) / count
            sigma_hour = np.sqrt(np.maximum((c2[hi] - c2[lo]) / count - mean * mean, 0.0) * (HOUR_MS / BASE_BAR_MS))
            violent = (back < np.arange(n)) & (count >= 12) & (move >= k * sigma_hour)
        days.append(open_time[violent] // DAY_MS)
    if liquidations is not None and liquidations.time_ms.shape[0]:
        hours, totals = _hourly(liquidations)
        span_hours = max(1, (liquidations.end_ms - liquidations.start_ms) // HOUR_MS + 1)
        mean_hour = float(liquidations.usd.sum()) / span_hours
        loud = (totals > 0) & (totals >= liquidation_multiple * mean_hour)
        days.append(hours[loud] * HOUR_MS // DAY_MS)
    if not days:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(days)).astype(np.int64)


def _hourly(events: LiquidationEvents) -> tuple[IntArray, FloatArray]:
    hour = events.time_ms // HOUR_MS
    ids, inverse = np.unique(hour, return_inverse=True)
    totals = np.zeros(ids.shape[0])
    np.add.at(totals, inverse, events.usd)
    return ids.astype(np.int64), totals


def is_cascade(time_ms: IntArray, cascade: IntArray) -> np.ndarray:
    """True where ``time_ms`` falls on a cascade day."""
    return np.isin(time_ms // DAY_MS, cascade)
