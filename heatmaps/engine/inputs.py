"""Inputs of the heat-map engine: timeframes, model parameters, bars and their aggregation.

Pure numpy, no Django (see heatmaps/engine.py). ``Buckets`` holds aligned bars (5-minute base bars or
aggregated timeframe buckets); only non-empty buckets are stored, so an empty bucket is simply a
missing ``open_time``. ``aggregate`` rolls bars up into coarser epoch-aligned buckets with ``reduceat``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

MODEL_VERSION = "v1"
BASE_BAR_MS = 300_000  # same as heatmaps.rows.BASE_BAR_MS; repeated so the engine imports nothing of the project

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR


@dataclass(frozen=True, slots=True)
class Timeframe:
    key: str
    window_ms: int
    bar_ms: int
    columns: int

    def __post_init__(self) -> None:
        if self.bar_ms <= 0 or self.bar_ms % BASE_BAR_MS:
            raise ValueError(f"timeframe {self.key}: bar_ms must be a positive multiple of {BASE_BAR_MS}")
        if self.columns < 1 or self.window_ms != self.columns * self.bar_ms:
            raise ValueError(f"timeframe {self.key}: window_ms must equal columns x bar_ms")


def _tf(key: str, window_ms: int, bar_ms: int) -> Timeframe:
    return Timeframe(key=key, window_ms=window_ms, bar_ms=bar_ms, columns=window_ms // bar_ms)


TIMEFRAMES: dict[str, Timeframe] = {
    tf.key: tf
    for tf in (
        _tf("12h", 12 * _HOUR, 5 * _MINUTE),
        _tf("24h", 24 * _HOUR, 5 * _MINUTE),
        _tf("3d", 3 * _DAY, 15 * _MINUTE),
        _tf("1w", 7 * _DAY, 30 * _MINUTE),
        _tf("2w", 14 * _DAY, _HOUR),
        _tf("1m", 30 * _DAY, 2 * _HOUR),
        _tf("3m", 90 * _DAY, 6 * _HOUR),
        _tf("6m", 180 * _DAY, 12 * _HOUR),
        _tf("1y", 365 * _DAY, _DAY),
    )
}

DEFAULT_TIERS: tuple[tuple[float, float], ...] = ((5.0, 0.10), (10.0, 0.25), (25.0, 0.30), (50.0, 0.20), (100.0, 0.15))


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Parameters of model v1. Construct freely; call ``validate()`` before trusting user input."""

    tiers: tuple[tuple[float, float], ...] = DEFAULT_TIERS  # (leverage, weight)
    mmr: float = 0.004
    n_bins: int = 400
    pad: float = 0.10

    @staticmethod
    def parse_tiers(text: str) -> tuple[tuple[float, float], ...]:
        """Parse ``"5:0.10,10:0.25"`` (an ``x`` after the leverage is allowed: ``"5x:0.10"``)."""
        tiers: list[tuple[float, float]] = []
        for raw in text.split(","):
            part = raw.strip()
            if not part:
                continue
            lev_text, sep, weight_text = part.partition(":")
            if not sep:
                raise ValueError(f"tier {part!r} is not of the form LEVERAGE:WEIGHT")
            try:
                lev = float(lev_text.strip().rstrip("xX"))
                weight = float(weight_text.strip())
            except ValueError:
                raise ValueError(f"tier {part!r} is not of the form LEVERAGE:WEIGHT") from None
            tiers.append((lev, weight))
        if not tiers:
            raise ValueError("no leverage tiers given")
        return tuple(tiers)

    def tiers_text(self) -> str:
        return ",".join(f"{lev:g}:{w:g}" for lev, w in self.tiers)

    @property
    def leverages(self) -> tuple[float, ...]:
        return tuple(lev for lev, _ in self.tiers)

    def validate(self) -> ModelParams:
        """Raise ``ValueError`` naming the first problem; return ``self`` so it can be chained."""
        if not self.tiers:
            raise ValueError("at least one leverage tier is required")
        seen: set[float] = set()
        for lev, weight in self.tiers:
            if not (math.isfinite(lev) and lev > 1):
                raise ValueError(f"leverage {lev!r} must be a finite number above 1")
            if lev in seen:
                raise ValueError(f"leverage {lev:g}x is listed twice")
            seen.add(lev)
            if not (math.isfinite(weight) and 0 <= weight <= 1):
                raise ValueError(f"weight {weight!r} of {lev:g}x must be between 0 and 1")
        total = math.fsum(w for _, w in self.tiers)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"tier weights must sum to 1 (they sum to {total:.12g})")
        if not (math.isfinite(self.mmr) and 0 <= self.mmr < 0.5):
            raise ValueError(f"maintenance margin rate {self.mmr!r} must be in [0, 0.5)")
        worst = max(lev for lev, _ in self.tiers)
        if self.mmr * worst >= 1:
            # Initial margin 1/lev at or below maintenance: the position would be liquidated on
            # opening, and its "long liquidation price" would sit above the entry.
            raise ValueError(f"{worst:g}x is not possible with a maintenance margin rate of {self.mmr:g}")
        if isinstance(self.n_bins, bool) or not isinstance(self.n_bins, int | np.integer):
            raise ValueError(f"n_bins {self.n_bins!r} must be an integer")
        if not 10 <= self.n_bins <= 2000:
            raise ValueError(f"n_bins {self.n_bins} must be between 10 and 2000")
        if not (math.isfinite(self.pad) and 0 <= self.pad < 1):
            raise ValueError(f"pad {self.pad!r} must be in [0, 1)")
        return self


def _floats(values: ArrayLike | None, n: int, name: str) -> FloatArray:
    if values is None:
        return np.full(n, np.nan)
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({n},)")
    return arr


@dataclass(frozen=True, slots=True)
class Buckets:
    """Aligned bars, oldest first. Only non-empty buckets are present.

    ``volume``/``taker_buy``/``oi_value`` use NaN for "unknown". ``oi_value`` is the open interest
    in quote currency at the bucket's close. ``mark_high``/``mark_low`` are the mark-price candle's
    extremes where stored (NaN where unknown; None when no bar has one): model v2 sweeps on them,
    model v1 ignores them.
    """

    open_time: IntArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    taker_buy: FloatArray
    oi_value: FloatArray
    bar_ms: int = BASE_BAR_MS
    mark_high: FloatArray | None = None
    mark_low: FloatArray | None = None

    @classmethod
    def from_arrays(
        cls,
        *,
        open_time: ArrayLike,
        high: ArrayLike,
        low: ArrayLike,
        close: ArrayLike,
        volume: ArrayLike | None = None,
        taker_buy: ArrayLike | None = None,
        oi_value: ArrayLike | None = None,
        bar_ms: int = BASE_BAR_MS,
        mark_high: ArrayLike | None = None,
        mark_low: ArrayLike | None = None,
    ) -> Buckets:
        if (mark_high is None) != (mark_low is None):
            raise ValueError("mark_high and mark_low must be given together")
        times = np.ascontiguousarray(open_time, dtype=np.int64)
        n = times.shape[0] if times.ndim == 1 else -1
        if n < 0:
            raise ValueError("open_time must be one-dimensional")
        return cls(
            open_time=times,
            high=_floats(high, n, "high"),
            low=_floats(low, n, "low"),
            close=_floats(close, n, "close"),
            volume=_floats(volume, n, "volume"),
            taker_buy=_floats(taker_buy, n, "taker_buy"),
            oi_value=_floats(oi_value, n, "oi_value"),
            bar_ms=bar_ms,
            mark_high=None if mark_high is None else _floats(mark_high, n, "mark_high"),
            mark_low=None if mark_low is None else _floats(mark_low, n, "mark_low"),
        )

    def __post_init__(self) -> None:
        n = self.open_time.shape[0]
        if self.bar_ms <= 0:
            raise ValueError("bar_ms must be positive")
        for name in ("high", "low", "close", "volume", "taker_buy", "oi_value"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have the same length as open_time ({n})")
        if (self.mark_high is None) != (self.mark_low is None):
            raise ValueError("mark_high and mark_low must be given together")
        if self.mark_high is not None and self.mark_low is not None:
            for name, arr in (("mark_high", self.mark_high), ("mark_low", self.mark_low)):
                if arr.shape != (n,):
                    raise ValueError(f"{name} must have the same length as open_time ({n})")
                if np.any(np.isinf(arr)) or np.any(arr <= 0):  # NaN compares False: unknown is allowed
                    raise ValueError(f"{name} must be positive and finite where known (NaN where unknown)")
            if np.any(np.isnan(self.mark_high) != np.isnan(self.mark_low)):
                raise ValueError("mark_high and mark_low must be known for the same bars")
            if np.any(self.mark_low > self.mark_high):
                raise ValueError("mark prices must satisfy mark_low <= mark_high")
        if n == 0:
            return
        if np.any(self.open_time % self.bar_ms):
            raise ValueError(f"open_time values must be multiples of {self.bar_ms} ms")
        if n > 1 and np.any(self.open_time[1:] <= self.open_time[:-1]):
            raise ValueError("open_time must be strictly increasing")
        # Prices drive bin lookups; a NaN there would silently drop flow, so refuse it loudly.
        if not (np.isfinite(self.high).all() and np.isfinite(self.low).all() and np.isfinite(self.close).all()):
            raise ValueError("high, low and close must be finite")
        if np.any(self.low <= 0) or np.any(self.low > self.high):
            raise ValueError("prices must satisfy 0 < low <= high")

    def __len__(self) -> int:
        return int(self.open_time.shape[0])

    @classmethod
    def _trusted(cls, **fields: object) -> Buckets:
        """Build without validation, for arrays derived from already-validated bars.

        Why: validating 210 000 base bars costs ~2 ms, and slices/aggregates cannot break the
        invariants (alignment, order, finite prices), so re-checking them would only burn time.
        """
        obj = object.__new__(Buckets)
        for name in ("open_time", "high", "low", "close", "volume", "taker_buy", "oi_value", "bar_ms"):
            object.__setattr__(obj, name, fields[name])
        object.__setattr__(obj, "mark_high", fields.get("mark_high"))
        object.__setattr__(obj, "mark_low", fields.get("mark_low"))
        return obj

    def slice(self, start: int, stop: int | None = None) -> Buckets:
        s = np.s_[start:stop]
        return Buckets._trusted(
            open_time=self.open_time[s],
            high=self.high[s],
            low=self.low[s],
            close=self.close[s],
            volume=self.volume[s],
            taker_buy=self.taker_buy[s],
            oi_value=self.oi_value[s],
            bar_ms=self.bar_ms,
            mark_high=None if self.mark_high is None else self.mark_high[s],
            mark_low=None if self.mark_low is None else self.mark_low[s],
        )

    def since(self, start_ms: int) -> Buckets:
        return self.slice(int(np.searchsorted(self.open_time, start_ms, side="left")))


class BaseBars(Buckets):
    """5-minute base bars (``bar_ms`` fixed to 300 000)."""

    __slots__ = ()

    def __post_init__(self) -> None:
        if self.bar_ms != BASE_BAR_MS:
            raise ValueError(f"base bars are {BASE_BAR_MS} ms long")
        Buckets.__post_init__(self)


def carry_open_interest(bars: Buckets) -> Buckets:
    """Forward-fill unknown (NaN) open interest with the last known value.

    Why: a missing OI snapshot says nothing about positions, so the model must not read it as
    "OI fell to zero" (which would close everything). Carrying the last value means no flow on the
    unknown bars; the change across the gap is booked on the first bar where OI is known again.
    Bars before the first known OI stay NaN and cause no flow either.
    """
    oi = bars.oi_value
    missing = np.isnan(oi)
    if not missing.any():
        return bars
    idx = np.where(missing, 0, np.arange(oi.shape[0]))
    np.maximum.accumulate(idx, out=idx)
    filled = oi[idx]
    filled[missing & (idx == 0) & np.isnan(oi[0])] = np.nan  # nothing known yet
    return Buckets._trusted(
        open_time=bars.open_time,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=bars.volume,
        taker_buy=bars.taker_buy,
        oi_value=filled,
        bar_ms=bars.bar_ms,
        mark_high=bars.mark_high,
        mark_low=bars.mark_low,
    )


def aggregate(bars: Buckets, bar_ms: int) -> Buckets:
    """Roll bars up into epoch-aligned buckets of ``bar_ms`` (spec §2).

    ``bar_ms`` must be a multiple of ``bars.bar_ms``; then aggregating an aggregation gives the
    same highs, lows, closes and OI as aggregating the base bars directly (sums may differ in the
    last bit), which ``compute_all_timeframes`` uses to avoid re-reading every base bar.
    NaN in volume/taker_buy propagates to the bucket: a partly unknown split is unknown. Mark-price
    extremes are taken over the bars where they are known (NaN if none is).
    """
    if bar_ms <= 0 or bar_ms % bars.bar_ms:
        raise ValueError(f"cannot aggregate {bars.bar_ms} ms bars into {bar_ms} ms buckets")
    if bar_ms == bars.bar_ms or len(bars) == 0:
        return Buckets._trusted(
            open_time=bars.open_time,
            high=bars.high,
            low=bars.low,
            close=bars.close,
            volume=bars.volume,
            taker_buy=bars.taker_buy,
            oi_value=bars.oi_value,
            bar_ms=bar_ms,
            mark_high=bars.mark_high,
            mark_low=bars.mark_low,
        )
    n = len(bars)
    first = int(bars.open_time[0]) // bar_ms * bar_ms
    if (int(bars.open_time[-1]) - first) // bar_ms < n // 16:
        # Few buckets for many bars: find their boundaries by binary search rather than dividing
        # every bar's time; the work scales with the buckets (the 1y map: 210 000 bars, 730 days).
        bounds = np.arange(first, int(bars.open_time[-1]) + 1, bar_ms, dtype=np.int64)
        at = np.searchsorted(bars.open_time, bounds)
        filled = np.append(at[1:], n) > at  # a bucket holds the bars up to the next bucket's first
        keys, starts = bounds[filled], at[filled]
    else:
        per_bar = bars.open_time // bar_ms * bar_ms
        starts = np.flatnonzero(np.concatenate(([True], per_bar[1:] != per_bar[:-1])))
        keys = per_bar[starts]
    lasts = np.append(starts[1:], n) - 1
    mark_high = mark_low = None
    if bars.mark_high is not None and bars.mark_low is not None:
        # Extremes over the bars whose mark candle is known; NaN where none is (fmax/fmin skip NaN
        # unless both sides are NaN).
        mark_high = np.fmax.reduceat(bars.mark_high, starts)
        mark_low = np.fmin.reduceat(bars.mark_low, starts)
    return Buckets._trusted(
        open_time=keys,
        high=np.maximum.reduceat(bars.high, starts),
        low=np.minimum.reduceat(bars.low, starts),
        close=bars.close[lasts],
        volume=np.add.reduceat(bars.volume, starts),
        taker_buy=np.add.reduceat(bars.taker_buy, starts),
        oi_value=bars.oi_value[lasts],
        bar_ms=bar_ms,
        mark_high=mark_high,
        mark_low=mark_low,
    )
