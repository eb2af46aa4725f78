"""What the alert conditions read about one asset at the close of one 5-minute bar.

Plain dataclasses over numpy arrays, so the conditions stay pure and a whole batch of rules is
evaluated with a handful of vector operations. Times are UTC milliseconds, prices and amounts USD.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

BAR_MS = 300_000  # the alerts run on closed 5-minute bars
ClusterSide = Literal["long", "short"]


def _floats(values: object) -> FloatArray:
    return np.ascontiguousarray(values, dtype=np.float64)


def _ints(values: object) -> IntArray:
    return np.ascontiguousarray(values, dtype=np.int64)


def _check_times(name: str, times_ms: IntArray, *arrays: FloatArray) -> None:
    if times_ms.ndim != 1 or any(a.shape != times_ms.shape for a in arrays):
        raise ValueError(f"{name}: times and values must be 1-d arrays of one length")
    if times_ms.size > 1 and bool(np.any(np.diff(times_ms) <= 0)):
        raise ValueError(f"{name}: times must be strictly increasing (oldest first)")


@dataclass(frozen=True, slots=True)
class Bars:
    """Closed 5-minute bars, oldest first; ``times_ms`` are open times. The last bar is the one
    being evaluated, the one before it supplies the previous close."""

    times_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray

    def __post_init__(self) -> None:
        for name in ("times_ms", "open", "high", "low", "close"):
            convert = _ints if name == "times_ms" else _floats
            object.__setattr__(self, name, convert(getattr(self, name)))
        _check_times("bars", self.times_ms, self.open, self.high, self.low, self.close)

    def __len__(self) -> int:
        return int(self.times_ms.size)

    def window(self, start: int, stop: int) -> Bars:
        """Bars ``[start, stop)`` as views, unchecked: a slice of checked bars is already valid, and
        a replay takes one per bar (a test on history, thousands)."""
        view = object.__new__(Bars)
        for name in ("times_ms", "open", "high", "low", "close"):
            object.__setattr__(view, name, getattr(self, name)[start:stop])
        return view

    def upto(self, index: int) -> Bars:
        """The history as it stood when bar ``index`` closed (for replays and tests)."""
        stop = index + 1 if index >= 0 else len(self) + index + 1
        return Bars(self.times_ms[:stop], self.open[:stop], self.high[:stop], self.low[:stop], self.close[:stop])


@dataclass(frozen=True, slots=True)
class ClusterLevel:
    """One cluster of a heat map's last column (the shape ``heatmaps`` reports)."""

    side: ClusterSide
    price_low: float
    price_high: float
    peak_price: float
    usd: float


@dataclass(frozen=True, slots=True)
class ClusterSet:
    """The clusters of one map as parallel arrays.

    ``through_ms`` is the exclusive end of the data the map was computed from (open time of its
    last 5-minute bar + 5 min): a sweep is only looked for in bars at or after it, because the
    map's own sweep step has already removed what earlier bars traded through.
    """

    through_ms: int
    short: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    price_low: FloatArray = field(default_factory=lambda: np.zeros(0))
    price_high: FloatArray = field(default_factory=lambda: np.zeros(0))
    peak_price: FloatArray = field(default_factory=lambda: np.zeros(0))
    usd: FloatArray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        object.__setattr__(self, "short", np.ascontiguousarray(self.short, dtype=np.bool_))
        for name in ("price_low", "price_high", "peak_price", "usd"):
            object.__setattr__(self, name, _floats(getattr(self, name)))
        if any(getattr(self, n).shape != self.short.shape for n in ("price_low", "price_high", "peak_price", "usd")):
            raise ValueError("cluster arrays must have one length")

    @classmethod
    def of(cls, levels: Sequence[ClusterLevel], *, through_ms: int) -> ClusterSet:
        return cls(
            through_ms=through_ms,
            short=np.array([c.side == "short" for c in levels], dtype=np.bool_),
            price_low=np.array([c.price_low for c in levels], dtype=np.float64),
            price_high=np.array([c.price_high for c in levels], dtype=np.float64),
            peak_price=np.array([c.peak_price for c in levels], dtype=np.float64),
            usd=np.array([c.usd for c in levels], dtype=np.float64),
        )

    def __len__(self) -> int:
        return int(self.usd.size)

    def level(self, index: int) -> ClusterLevel:
        return ClusterLevel(
            side="short" if self.short[index] else "long",
            price_low=float(self.price_low[index]),
            price_high=float(self.price_high[index]),
            peak_price=float(self.peak_price[index]),
            usd=float(self.usd[index]),
        )


@dataclass(frozen=True, slots=True)
class ClusterMaps:
    """One timeframe's map now and the map the previous evaluation cycle saw.

    When no map was computed in between, ``previous`` is the same map as ``current`` — so a
    cluster "forms" once, in the cycle its map first appears. ``previous`` is None on the first
    cycle (nothing to compare with, so nothing forms).
    """

    current: ClusterSet
    previous: ClusterSet | None = None


@dataclass(frozen=True, slots=True)
class Series:
    """A time series sampled at ``times_ms`` (oldest first), e.g. open interest in USD."""

    times_ms: IntArray
    values: FloatArray

    def __post_init__(self) -> None:
        object.__setattr__(self, "times_ms", _ints(self.times_ms))
        object.__setattr__(self, "values", _floats(self.values))
        _check_times("series", self.times_ms, self.values)


@dataclass(frozen=True, slots=True)
class Liquidations:
    """Recorded liquidation events: time, USD, and whether the liquidated position was long
    (a long is liquidated by a falling price, a short by a rising one)."""

    times_ms: IntArray
    usd: FloatArray
    long: BoolArray

    def __post_init__(self) -> None:
        object.__setattr__(self, "times_ms", _ints(self.times_ms))
        object.__setattr__(self, "usd", _floats(self.usd))
        object.__setattr__(self, "long", np.ascontiguousarray(self.long, dtype=np.bool_))
        if not (self.times_ms.shape == self.usd.shape == self.long.shape) or self.times_ms.ndim != 1:
            raise ValueError("liquidations: arrays must be 1-d and of one length")

    def usd_between(self, start_ms: int, end_ms: int) -> tuple[float, float]:
        """(long USD, short USD) liquidated in ``[start_ms, end_ms)``."""
        inside = (self.times_ms >= start_ms) & (self.times_ms < end_ms)
        long_usd = float(self.usd[inside & self.long].sum())
        short_usd = float(self.usd[inside & ~self.long].sum())
        return long_usd, short_usd


@dataclass(frozen=True, slots=True)
class MarketState:
    """Everything the conditions read for one asset at the close of ``bars``' last bar.

    ``price`` is the current price (normally the last close). Funding rates are the OI-weighted
    rate over the asset's exchanges, as a fraction per 8 h, at this bar's close and at the
    previous bar's close (None when unknown). ``open_interest`` is USD over time; ``clusters``
    maps a timeframe key ("12h", "1w", …) to its maps; ``liquidations`` is None where no
    liquidation events are recorded for the asset.
    """

    asset: str
    bars: Bars
    price: float
    funding_rate: float | None = None
    previous_funding_rate: float | None = None
    open_interest: Series | None = None
    clusters: Mapping[str, ClusterMaps] = field(default_factory=dict)
    liquidations: Liquidations | None = None

    def __post_init__(self) -> None:
        if len(self.bars) < 2:
            raise ValueError("a market state needs at least two closed bars (this one and the previous close)")

    @property
    def bar_ms(self) -> int:
        """Open time of the bar being evaluated: the identity of an alert event."""
        return int(self.bars.times_ms[-1])
