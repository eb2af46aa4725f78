"""The bundled sample as an endless market tape: pure numpy, no Django.

Bar ``i`` of the tape opens at ``origin_ms + i * BAR``. The sample's bars come first; after its last one
the sample plays again from its start, with prices (and open interest) scaled so that each lap opens
where the previous one closed — the same moves, no jump. Within a bar the price walks open → the
nearer extreme → the other extreme → close, so a forming candle and a mark price exist at any instant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAR_MS = 300_000
FUNDING_MS = 8 * 3_600_000


@dataclass(frozen=True)
class Bar:
    open_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class Tape:
    """One asset's sample: per 5-minute bar OHLCV and the open interest at its close (base units and USD);
    ``funding`` the 8-hourly rates in order."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    oi_base: np.ndarray
    oi_value: np.ndarray
    funding: np.ndarray
    origin_ms: int

    def __post_init__(self) -> None:
        n = self.open.shape[0]
        if n < 2 or any(a.shape[0] != n for a in (self.high, self.low, self.close, self.volume, self.oi_base)):
            raise ValueError("a tape needs at least two bars and one value per bar in every column")
        if self.origin_ms % BAR_MS:
            raise ValueError("the tape must start on a 5-minute boundary")
        if not self.funding.shape[0]:
            raise ValueError("a tape needs at least one funding rate")

    @property
    def length(self) -> int:
        return int(self.open.shape[0])

    def _lap(self, i: int) -> tuple[int, float, float]:
        """(index in the sample, price factor, open-interest factor) of tape bar ``i``."""
        lap, j = divmod(i, self.length)
        price = (float(self.close[-1]) / float(self.open[0])) ** lap
        oi = (float(self.oi_base[-1]) / float(self.oi_base[0])) ** lap
        return j, price, oi

    def index_at(self, t_ms: int) -> int:
        """The bar that contains ``t_ms``."""
        return (t_ms - self.origin_ms) // BAR_MS

    def bar(self, i: int) -> Bar:
        if i < 0:
            raise IndexError(f"bar {i} is before the tape starts")
        j, k, _ = self._lap(i)
        return Bar(
            self.origin_ms + i * BAR_MS,
            float(self.open[j]) * k,
            float(self.high[j]) * k,
            float(self.low[j]) * k,
            float(self.close[j]) * k,
            float(self.volume[j]),
        )

    def open_interest(self, i: int) -> tuple[float, float]:
        """Open interest at the close of bar ``i``: (base units, USD)."""
        j, k, g = self._lap(i)
        return float(self.oi_base[j]) * g, float(self.oi_value[j]) * g * k

    def _path(self, bar: Bar, x: float) -> float:
        """The price a fraction ``x`` ∈ [0, 1] into the bar."""
        first, second = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
        points = (bar.open, first, second, bar.close)
        leg = min(int(x * 3), 2)
        frac = x * 3 - leg
        return points[leg] + (points[leg + 1] - points[leg]) * frac

    def forming(self, t_ms: int) -> Bar:
        """The bar containing ``t_ms`` as it stood at ``t_ms``: high and low so far, close = price now."""
        i = self.index_at(t_ms)
        bar = self.bar(i)
        x = (t_ms - bar.open_time_ms) / BAR_MS
        seen = [self._path(bar, y) for y in (0.0, min(x, 1 / 3), min(x, 2 / 3), x)]
        return Bar(bar.open_time_ms, bar.open, max(seen), min(seen), seen[-1], bar.volume * x)

    def price(self, t_ms: int) -> float:
        return self.forming(t_ms).close

    def open_interest_at(self, t_ms: int) -> float:
        """Open interest (base units) at ``t_ms``, moving linearly from one bar's close to the next."""
        i = self.index_at(t_ms)
        x = (t_ms - (self.origin_ms + i * BAR_MS)) / BAR_MS
        before = self.open_interest(i - 1)[0] if i > 0 else self.open_interest(0)[0]
        return before + (self.open_interest(i)[0] - before) * x

    def funding_rate(self, funding_time_ms: int) -> float:
        """The rate settled at ``funding_time_ms`` (a multiple of 8 h): the sample's rates in turn."""
        slot = (funding_time_ms - self.origin_ms) // FUNDING_MS
        return float(self.funding[slot % self.funding.shape[0]])


def funding_times(start_ms: int, end_ms: int) -> list[int]:
    """Settlement times (00:00, 08:00, 16:00 UTC) in [start_ms, end_ms)."""
    first = -(-start_ms // FUNDING_MS) * FUNDING_MS
    return list(range(first, end_ms, FUNDING_MS))


def origin_ending_at(*, length: int, last_open_ms: int) -> int:
    """The origin that puts the sample's last bar (index ``length - 1``) at ``last_open_ms``."""
    return last_open_ms - (length - 1) * BAR_MS


@dataclass(frozen=True)
class ReplayClock:
    """Market time of the replay: from ``start_market_ms`` (behind the wall clock) it runs ``speed`` times
    as fast as the wall clock until it has caught up, then with it — never ahead, so every bar it
    closes is in the past, as an exchange's are."""

    start_wall_ms: int
    start_market_ms: int
    speed: float

    def market_ms(self, wall_ms: int) -> int:
        fast = self.start_market_ms + int((wall_ms - self.start_wall_ms) * self.speed)
        return min(fast, wall_ms)
