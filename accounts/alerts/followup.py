"""What price did after an alert fired: pure numpy over the bars that followed (no database).

For a cluster or price rule, an event names a *target* (the level crossed, the zone's edge, the
cluster's peak) and the side price approached it from. Within the horizon it is followed up:
whether price touched the target and after how long, the largest move toward and against it, the
recorded liquidations on that side until the touch, and whether price then reversed by at least
the distance it had been away. The baseline is the backtest's "same distance" figure: of the
bars before the event, how often a level that far on the same side was reached within the horizon.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from accounts.alerts.market import BAR_MS, FloatArray, IntArray
from heatmaps.engine.backtest import DEFAULT_STEPS

FOLLOWED = ("price_crosses", "price_enters_zone", "cluster_within", "cluster_forms", "cluster_swept")
# Their firing bar itself reached the target: the follow-up is about what came after.
TOUCHED_AT_FIRE = ("price_crosses", "price_enters_zone", "cluster_swept")
PRICE_RULE_HORIZON_MINUTES = 24 * 60  # the 1w map's horizon, for rules without a map
MIN_DISTANCE = 0.0025  # a reversal needs at least 0.25 %, or a level crossed by a hair would always "reverse"
BASELINE_BARS = 30 * 24 * 12  # the 30 days before the event
MIN_BASELINE_SAMPLES = 20
Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Target:
    price: float
    start: float  # the price it was measured from
    up: bool  # approached from below (the target above the start)
    touched_at_fire: bool
    distance: float  # fraction, at least MIN_DISTANCE


def default_horizon_minutes(condition: str, params: Mapping[str, Any]) -> int:
    """A seventh of the map's window, as the backtest uses; a day for rules without a map."""
    timeframe = params.get("timeframe")
    if isinstance(timeframe, str) and timeframe in DEFAULT_STEPS:
        return DEFAULT_STEPS[timeframe][1] // 60_000
    return PRICE_RULE_HORIZON_MINUTES


def target_of(condition: str, values: Mapping[str, Any]) -> Target | None:
    """The price an event is followed up against, or None when the event names none."""
    try:
        if condition == "price_crosses":
            price, start = float(values["price"]), float(values["previous_close"])
            up = values.get("direction") == "up" if values.get("direction") in ("up", "down") else price >= start
        elif condition == "price_enters_zone":
            up = values.get("from") == "below"
            price = float(values["low"] if up else values["high"])
            start = float(values["previous_close"])
        elif condition == "cluster_swept":
            # The largest swept cluster's peak, approached from the far end of the sweeping bar.
            price = float(values["largest_peak_price"])
            low, high = float(values["bar_low"]), float(values["bar_high"])
            up = high - price <= price - low
            start = low if up else high
        elif condition in ("cluster_within", "cluster_forms"):
            # ``side`` is the cluster's (long/short); where it lies is read off the prices.
            price, start = float(values["peak_price"]), float(values["price"])
            up = price >= start
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(price) and math.isfinite(start) and price > 0 and start > 0):
        return None
    distance = max(abs(price - start) / start, MIN_DISTANCE)
    return Target(price=price, start=start, up=up, touched_at_fire=condition in TOUCHED_AT_FIRE, distance=distance)


@dataclass(frozen=True, slots=True)
class Pending:
    """A follow-up as created with its event: what to follow and until when (UTC ms)."""

    target: Target
    horizon_end_ms: int


def pending_followup(
    *, condition: str, values: Mapping[str, Any], bar_ms: int, params: Mapping[str, Any], horizon_minutes: int | None
) -> Pending | None:
    """What an event of ``condition`` will be followed up against, or None (not a price level)."""
    if condition not in FOLLOWED:
        return None
    target = target_of(condition, values)
    if target is None:
        return None
    minutes = horizon_minutes or default_horizon_minutes(condition, params)
    return Pending(target=target, horizon_end_ms=bar_ms + BAR_MS + minutes * 60_000)


@dataclass(frozen=True, slots=True)
class Outcome:
    touched: bool
    minutes_to_touch: int | None
    max_toward_pct: float
    max_against_pct: float
    liquidated_usd: float | None
    reversed: bool | None  # None: never touched, nothing to reverse from
    baseline_rate: float | None


def follow_up(
    *,
    target: Target,
    fired_bar_ms: int,
    horizon_end_ms: int,
    times_ms: IntArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    liquidations: tuple[IntArray, FloatArray, np.ndarray] | None = None,
) -> Outcome:
    """Follow one event over the bars after its firing bar that closed by ``horizon_end_ms``.

    ``liquidations`` are (time ms, USD, is-long) of the recorded forced orders, or None when the
    asset has no recording (then ``liquidated_usd`` is None, not 0).
    """
    fired_close = fired_bar_ms + BAR_MS
    after = (times_ms > fired_bar_ms) & (times_ms + BAR_MS <= horizon_end_ms)
    w_times, w_high, w_low = times_ms[after], high[after], low[after]
    start = target.start
    if target.touched_at_fire:
        touch_index: int | None = -1  # before the first bar of the window
        touch_end_ms = fired_close
        touch_from_ms = fired_bar_ms
    else:
        reached = w_high >= target.price if target.up else w_low <= target.price
        hits = np.flatnonzero(reached)
        touch_index = int(hits[0]) if hits.size else None
        touch_end_ms = int(w_times[touch_index]) + BAR_MS if touch_index is not None else horizon_end_ms
        touch_from_ms = fired_close
    if w_times.size:
        top, bottom = float(w_high.max()), float(w_low.min())
    else:
        top = bottom = start
    toward = (top - start) / start if target.up else (start - bottom) / start
    against = (start - bottom) / start if target.up else (top - start) / start
    liquidated = None
    if liquidations is not None:
        l_times, l_usd, l_long = liquidations
        # Price rising into a level liquidates shorts there; falling into one, longs.
        side = ~l_long if target.up else l_long
        window = (l_times >= touch_from_ms) & (l_times < touch_end_ms) & side
        liquidated = float(l_usd[window].sum())
    reversed_: bool | None = None
    minutes = None
    if touch_index is not None:
        minutes = 0 if target.touched_at_fire else int((touch_end_ms - fired_close) // 60_000)
        later_high, later_low = w_high[touch_index + 1 :], w_low[touch_index + 1 :]
        if target.up:
            reversed_ = bool(later_low.size and later_low.min() <= target.price * (1 - target.distance))
        else:
            reversed_ = bool(later_high.size and later_high.max() >= target.price * (1 + target.distance))
    baseline = None
    if not target.touched_at_fire:
        baseline = same_distance_rate(
            times_ms=times_ms,
            high=high,
            low=low,
            close=close,
            before_ms=fired_close,
            up=target.up,
            distance=target.distance,
            horizon_bars=max(1, (horizon_end_ms - fired_close) // BAR_MS),
        )
    return Outcome(
        touched=touch_index is not None,
        minutes_to_touch=minutes,
        max_toward_pct=round(max(toward, 0.0) * 100, 4),
        max_against_pct=round(max(against, 0.0) * 100, 4),
        liquidated_usd=liquidated,
        reversed=reversed_,
        baseline_rate=baseline,
    )


def same_distance_rate(
    *,
    times_ms: IntArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    before_ms: int,
    up: bool,
    distance: float,
    horizon_bars: int,
    lookback_bars: int = BASELINE_BARS,
) -> float | None:
    """Of the bars whose horizon ended by ``before_ms`` (no look-ahead past the event), the share
    from whose close a level ``distance`` away on the same side was reached within the horizon."""
    stop = int(np.searchsorted(times_ms + BAR_MS, before_ms, side="right"))
    start = max(0, stop - lookback_bars)
    highs, lows, closes = high[start:stop], low[start:stop], close[start:stop]
    n = closes.size - horizon_bars
    if n < MIN_BASELINE_SAMPLES:
        return None
    if up:
        future = sliding_window_view(highs[1:], horizon_bars)[:n].max(axis=1)
        reached = future >= closes[:n] * (1 + distance)
    else:
        future = sliding_window_view(lows[1:], horizon_bars)[:n].min(axis=1)
        reached = future <= closes[:n] * (1 - distance)
    return float(reached.mean())


def wilson_interval(k: int, n: int) -> tuple[float, float] | None:
    """The 95 % Wilson score interval of k successes in n, or None when n is 0."""
    if n <= 0:
        return None
    p = k / n
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
