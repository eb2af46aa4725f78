"""The alert conditions as vector functions: one call evaluates a whole batch of rules of one
condition on one asset, parameters as arrays, result a boolean mask (plus what the event reports).

Every function broadcasts, so the same call also runs one rule over a whole history (an array of
bars) — which is how the tests compare each condition with a plain loop.

Exact semantics (intervals are closed, prices in USD):

- **price crosses up**: ``prev_close < level <= close``; **down**: ``prev_close > level >= close``.
  Only closes count, so a bar that gaps over the level crosses it; a close exactly at the level
  is the crossing (and the next bar, starting at the level, does not cross it again).
- **price enters a zone** ``[low, high]``: the previous bar's range lies entirely outside the zone
  (``prev_high < low`` or ``prev_low > high``) and this bar's *move* — its range extended to the
  previous close, so a gap that jumps over the zone counts — intersects it. Touching an edge is
  inside; a bar that was already (even partly) inside never enters.
- **cluster within**: the largest cluster on the side (``above``: peak ≥ price, ``below``: peak ≤
  price, ``either``: both; ties go to the nearer one) has ``|peak - price| / price * 100 <=
  percent`` and, when ``min_usd`` is set, ``usd >= min_usd``.
- **cluster forms**: a cluster of the current map with ``usd >= min_usd`` and peak within
  ``percent`` of the price, where no cluster of the previous map on the same side (long/short)
  with ``usd >= min_usd`` overlaps its price range (touching counts as overlapping, so a cluster
  that drifted by one bin is the same cluster).
- **cluster swept**: this bar's move (range extended to the previous close) covers the peak of a
  still-standing cluster with ``usd >= min_usd``; the event reports the USD of all clusters swept.
- **funding above**: ``previous < rate <= current``; **below**: ``previous > rate >= current``.
- **oi change**: ``change = (oi_now - oi_then) / oi_then * 100`` with both values taken as of a
  time (the last sample at or before it): ``now`` and ``now - window``. Fires when ``change >=
  percent`` for a positive percent, ``change <= percent`` for a negative one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from accounts.alerts.market import Bars, BoolArray, ClusterSet, FloatArray, IntArray, Series

ArrayLike = npt.ArrayLike

UP, DOWN = 1, 2  # direction bits; "either" is UP | DOWN
ABOVE, BELOW = 1, 2  # side bits; "either" is ABOVE | BELOW
DIRECTION_BITS = {"up": UP, "down": DOWN, "either": UP | DOWN}
SIDE_BITS = {"above": ABOVE, "below": BELOW, "either": ABOVE | BELOW}


def price_crosses(
    prev_close: ArrayLike, close: ArrayLike, levels: ArrayLike, directions: ArrayLike
) -> tuple[BoolArray, BoolArray]:
    """(fired, crossed up) for levels and direction bits (``DIRECTION_BITS``)."""
    prev = np.asarray(prev_close, dtype=np.float64)
    now = np.asarray(close, dtype=np.float64)
    level = np.asarray(levels, dtype=np.float64)
    bits = np.asarray(directions, dtype=np.int8)
    up = (prev < level) & (level <= now)
    down = (prev > level) & (level >= now)
    fired = (up & ((bits & UP) != 0)) | (down & ((bits & DOWN) != 0))
    return fired, up


def bar_move(prev_close: ArrayLike, low: ArrayLike, high: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """The prices a bar traded through: its range extended to the previous close (gaps included)."""
    prev = np.asarray(prev_close, dtype=np.float64)
    return np.minimum(np.asarray(low, dtype=np.float64), prev), np.maximum(np.asarray(high, dtype=np.float64), prev)


def price_enters_zone(
    prev_low: ArrayLike,
    prev_high: ArrayLike,
    move_low: ArrayLike,
    move_high: ArrayLike,
    zone_low: ArrayLike,
    zone_high: ArrayLike,
) -> tuple[BoolArray, BoolArray]:
    """(fired, entered from below) for zones ``[zone_low, zone_high]``."""
    z_low = np.asarray(zone_low, dtype=np.float64)
    z_high = np.asarray(zone_high, dtype=np.float64)
    was_below = np.asarray(prev_high, dtype=np.float64) < z_low
    was_above = np.asarray(prev_low, dtype=np.float64) > z_high
    reaches = (np.asarray(move_low, dtype=np.float64) <= z_high) & (np.asarray(move_high, dtype=np.float64) >= z_low)
    return (was_below | was_above) & reaches, was_below & reaches


def distance_pct(peak_price: ArrayLike, price: float) -> FloatArray:
    """Distance of a price from the current price, in percent of the current price (unsigned)."""
    return np.abs(np.asarray(peak_price, dtype=np.float64) - price) / price * 100


def cluster_within(
    price: float, clusters: ClusterSet, percent: ArrayLike, sides: ArrayLike, min_usd: ArrayLike
) -> tuple[BoolArray, IntArray]:
    """(fired, index of the rule's cluster or -1) per rule; ``min_usd`` 0 means no minimum."""
    pct = np.asarray(percent, dtype=np.float64)
    bits = np.asarray(sides, dtype=np.int8)
    floor = np.asarray(min_usd, dtype=np.float64)
    n = np.broadcast(pct, bits, floor).shape
    if len(clusters) == 0 or price <= 0:
        return np.zeros(n, dtype=np.bool_), np.full(n, -1, dtype=np.int64)
    peak, usd = clusters.peak_price, clusters.usd
    dist = distance_pct(peak, price)
    on_side = (((bits[..., None] & ABOVE) != 0) & (peak >= price)) | (
        ((bits[..., None] & BELOW) != 0) & (peak <= price)
    )
    largest = np.where(on_side, usd, -np.inf).max(axis=-1, keepdims=True)
    # Among the largest (a tie is rare but possible) the nearest one decides.
    candidates = on_side & (usd == largest)
    index = np.where(candidates, dist, np.inf).argmin(axis=-1)
    found = on_side.any(axis=-1)
    fired = found & (dist[index] <= pct) & (usd[index] >= floor)
    return np.broadcast_to(fired, n).copy(), np.broadcast_to(np.where(found, index, -1), n).astype(np.int64)


def cluster_forms(
    price: float, current: ClusterSet, previous: ClusterSet, percent: ArrayLike, min_usd: ArrayLike
) -> tuple[BoolArray, IntArray]:
    """(fired, index of the largest new cluster in ``current`` or -1) per rule."""
    pct = np.asarray(percent, dtype=np.float64)
    floor = np.asarray(min_usd, dtype=np.float64)
    n = np.broadcast(pct, floor).shape
    if len(current) == 0 or price <= 0:
        return np.zeros(n, dtype=np.bool_), np.full(n, -1, dtype=np.int64)
    overlaps = (
        (previous.price_low[None, :] <= current.price_high[:, None])
        & (previous.price_high[None, :] >= current.price_low[:, None])
        & (previous.short[None, :] == current.short[:, None])
    )
    # The largest same-side overlapping cluster before: a current cluster is new for every
    # min_usd above that and at or below its own USD.
    before = np.where(overlaps, previous.usd[None, :], 0.0).max(axis=1, initial=0.0)
    near = distance_pct(current.peak_price, price)
    new = (
        (current.usd >= floor[..., None]) & (before < floor[..., None]) & (near <= pct[..., None])
    )  # rules × current clusters
    index = np.where(new, current.usd, -np.inf).argmax(axis=-1)
    fired = new.any(axis=-1)
    return fired, np.where(fired, index, -1).astype(np.int64)


def standing_clusters(clusters: ClusterSet, bars: Bars) -> BoolArray:
    """Clusters whose peak no bar between the map's end and the evaluated (last) bar traded through.

    A map computed a while ago still shows clusters later bars have swept; without this an old
    map would report the same sweep again and again. Consecutive bar moves join up (each starts at
    the previous close), so what they traded through together is one interval.
    """
    start = int(np.searchsorted(bars.times_ms, clusters.through_ms, side="left"))
    stop = len(bars) - 1  # the evaluated bar itself is what may sweep
    if start >= stop:
        return np.ones(len(clusters), dtype=np.bool_)
    first_prev = bars.close[start - 1] if start > 0 else bars.open[start]
    low = min(float(bars.low[start:stop].min()), float(first_prev))
    high = max(float(bars.high[start:stop].max()), float(first_prev))
    return ~((clusters.peak_price >= low) & (clusters.peak_price <= high))


def cluster_swept(
    move_low: float, move_high: float, clusters: ClusterSet, standing: BoolArray, min_usd: ArrayLike
) -> tuple[BoolArray, BoolArray]:
    """(fired per rule, swept matrix rules × clusters): standing clusters ≥ min_usd whose peak lies
    in ``[move_low, move_high]``."""
    floor = np.asarray(min_usd, dtype=np.float64)
    hit = standing & (clusters.peak_price >= move_low) & (clusters.peak_price <= move_high)
    swept = hit & (clusters.usd >= floor[..., None])
    return swept.any(axis=-1), swept


def funding_above(previous: ArrayLike, current: ArrayLike, rates: ArrayLike) -> BoolArray:
    rate = np.asarray(rates, dtype=np.float64)
    return np.asarray((np.asarray(previous, dtype=np.float64) < rate) & (rate <= np.asarray(current, dtype=np.float64)))


def funding_below(previous: ArrayLike, current: ArrayLike, rates: ArrayLike) -> BoolArray:
    rate = np.asarray(rates, dtype=np.float64)
    return np.asarray((np.asarray(previous, dtype=np.float64) > rate) & (rate >= np.asarray(current, dtype=np.float64)))


def value_as_of(series: Series, at_ms: ArrayLike) -> FloatArray:
    """The last value at or before each time (NaN before the first sample)."""
    index = np.searchsorted(series.times_ms, np.asarray(at_ms, dtype=np.int64), side="right") - 1
    values = series.values[np.maximum(index, 0)] if series.values.size else np.full(index.shape, np.nan)
    return np.where(index >= 0, values, np.nan)


def oi_change(
    series: Series, now_ms: ArrayLike, window_ms: ArrayLike, percent: ArrayLike
) -> tuple[BoolArray, FloatArray, FloatArray, FloatArray]:
    """(fired, change in %, OI now, OI a window ago) per rule; unknown or non-positive OI never fires."""
    now = np.asarray(now_ms, dtype=np.int64)
    oi_now = value_as_of(series, now)
    oi_then = value_as_of(series, now - np.asarray(window_ms, dtype=np.int64))
    valid = np.isfinite(oi_now) & np.isfinite(oi_then) & (oi_then > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(valid, (oi_now - oi_then) / np.where(valid, oi_then, 1.0) * 100, np.nan)
    pct = np.asarray(percent, dtype=np.float64)
    fired = valid & np.where(pct > 0, change >= pct, change <= pct)
    return fired, change, np.broadcast_to(oi_now, change.shape), np.broadcast_to(oi_then, change.shape)
