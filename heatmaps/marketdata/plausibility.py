"""Is a 5-minute candle plausible? Pure numpy, no database: the importer refuses a file holding an
implausible candle, ingest holds such a candle back instead of storing it.

Two tests, in this order:

* **inconsistent**: a price that is not a finite positive number, ``high < low``, or ``open`` / ``close``
  outside ``[low, high]``. No market prints that; it is a damaged or mis-parsed row.
* **jump**: the close-to-close log move from the last plausible candle before it (and the move from that
  close to this candle's open) exceeds

      bound = max(FLOOR, Z × σ × √k)

  where σ is the asset's own recent 5-minute volatility and k the number of 5-minute bars between the
  two candles (a gap of an hour lets the price travel √12 times as far as one bar does).

  σ is robust: 1.4826 × the median absolute 5-minute log return (each return divided by √ of its bars)
  over a day of neighbouring candles — the 8-hour block the candle is in and one block either side. A
  median ignores the few violent bars of a crash, so one damaged print cannot raise its own bound, and
  the crash itself does not hide a damaged print next to it. With fewer than ``MIN_RETURNS`` neighbours
  σ is unknown and the floor alone applies.

  ``Z = 40`` and ``FLOOR = 0.5`` (a fall of 39 % or a rise of 65 % within one bar always passes) are
  deliberately generous: real 5-minute returns are fat-tailed (the bundled month of real Binance
  candles reaches 21 σ, a 2.5 % bar of ETH), and in a crash small perpetuals have closed a third lower
  than five minutes before; a real crash must never be refused. In quiet and ordinary markets the
  floor is the bound; Z × σ × √k takes over in violent regimes and across gaps (a day's gap at σ 0.1 %
  allows 0.68). The bundled month's largest move is a twentieth of its bound (measured by
  tests/heatmaps/marketdata/test_plausibility.py). What the bound does catch is damage, which is
  large: a dropped digit or shifted decimal point (a factor of 10, log 2.3), another asset's prices
  under this asset's name (ETH against BTC, log 3.4), a spike that is not there.

  Wicks (``high`` / ``low``) are never judged against volatility, only for consistency: liquidation
  cascades print real wicks far outside any volatility bound.

A candle judged a jump does not become the reference for the next one: the next candle is compared
with the last plausible close, so one bad print yields one problem, and a run of another asset's prices
is refused as a whole (a new level is accepted once enough bars have passed since that close for
Z × σ × √k to reach it: for BTC at σ 0.1 %, from ETH's prices, that is weeks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from heatmaps.rows import BASE_BAR_MS, CandleRow

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Reason = Literal["inconsistent", "jump"]

Z = 40.0
FLOOR = 0.5
MIN_RETURNS = 24
BLOCK = 96  # bars: 8 hours; σ comes from a block and its two neighbours, a day of returns
MAD_TO_SIGMA = 1.4826  # the median absolute deviation of a normal distribution is 0.6745 σ


@dataclass(frozen=True)
class Candles:
    """Candles as columns, sorted by open time (ms)."""

    open_time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray

    @classmethod
    def of(
        cls,
        open_time: npt.ArrayLike,
        open: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
    ) -> Candles:
        return cls(
            open_time=np.asarray(open_time, dtype=np.int64),
            open=np.asarray(open, dtype=np.float64),
            high=np.asarray(high, dtype=np.float64),
            low=np.asarray(low, dtype=np.float64),
            close=np.asarray(close, dtype=np.float64),
        )

    @classmethod
    def from_rows(cls, rows: Sequence[CandleRow]) -> Candles:
        """Normalised candle rows (a file's, or a connector's page) as columns."""
        return cls.of(*([getattr(r, f) for r in rows] for f in ("open_time_ms", "open", "high", "low", "close")))

    @classmethod
    def empty(cls) -> Candles:
        return cls.of([], [], [], [], [])

    def __len__(self) -> int:
        return int(self.open_time.size)


@dataclass(frozen=True)
class CandleProblem:
    index: int  # into the candles checked (not the ones before them)
    reason: Reason
    detail: str  # names the values
    reference_time_ms: int | None = None  # for a jump: the plausible candle it jumped from
    reference_close: float | None = None


def _utc(ms: int) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, tz=UTC):%Y-%m-%d %H:%M} UTC"


def inconsistent(candles: Candles) -> npt.NDArray[np.bool_]:
    """Candles whose OHLC cannot be a market's: non-finite or non-positive prices, high < low, open or
    close outside [low, high]."""
    o, h, lo, c = candles.open, candles.high, candles.low, candles.close
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
        positive = (o > 0) & (h > 0) & (lo > 0) & (c > 0)
        ordered = (lo <= h) & (lo <= np.minimum(o, c)) & (h >= np.maximum(o, c))
    return ~(finite & positive & ordered)


def _sigma_per_bar(times: IntArray, closes: FloatArray) -> FloatArray:
    """Robust 5-minute volatility around each candle (NaN where too few neighbours), from the log
    returns between consecutive candles, each scaled to one bar."""
    n = closes.size
    sigma = np.full(n, np.nan)
    if n < 2:
        return sigma
    bars = np.maximum((times[1:] - times[:-1]) // BASE_BAR_MS, 1).astype(np.float64)
    scaled = np.abs(np.diff(np.log(closes))) / np.sqrt(bars)  # return j ends at candle j + 1
    blocks = -(-n // BLOCK)
    for b in range(blocks):
        lo_ret = max(0, (b - 1) * BLOCK - 1)
        hi_ret = min(scaled.size, (b + 2) * BLOCK - 1)
        window = scaled[lo_ret:hi_ret]
        if window.size >= MIN_RETURNS:
            sigma[b * BLOCK : (b + 1) * BLOCK] = MAD_TO_SIGMA * float(np.median(window))
    return sigma


def candle_problems(candles: Candles, *, before: Candles | None = None) -> list[CandleProblem]:
    """The implausible candles among `candles` (sorted by time), oldest first.

    `before` are trusted candles just before them (the stored neighbours): they set the first reference
    close and widen the volatility estimate, and are not judged themselves.
    """
    before = before if before is not None else Candles.empty()
    problems: list[CandleProblem] = []
    bad = inconsistent(candles)
    for i in np.flatnonzero(bad):
        o, h, lo, c = (float(a[i]) for a in (candles.open, candles.high, candles.low, candles.close))
        problems.append(
            CandleProblem(
                index=int(i),
                reason="inconsistent",
                detail=f"inconsistent candle at {_utc(int(candles.open_time[i]))}: open {o:g}, high {h:g}, "
                f"low {lo:g}, close {c:g} (need 0 < low <= open, close <= high)",
            )
        )
    # Volatility from every usable close, trusted ones first; the candidates' own returns take part,
    # which a median shrugs off.
    trusted = ~inconsistent(before)
    times = np.concatenate([before.open_time[trusted], candles.open_time[~bad]])
    closes = np.concatenate([before.close[trusted], candles.close[~bad]])
    sigma = _sigma_per_bar(times, closes)
    offset = int(trusted.sum())
    ref_time = int(times[offset - 1]) if offset else None
    ref_close = float(closes[offset - 1]) if offset else None
    for pos, i in enumerate(np.flatnonzero(~bad), start=offset):
        t, o, c = int(candles.open_time[i]), float(candles.open[i]), float(candles.close[i])
        if ref_time is None or ref_close is None or t <= ref_time:
            ref_time, ref_close = t, c
            continue
        k = max((t - ref_time) // BASE_BAR_MS, 1)
        s = float(sigma[pos])
        bound = FLOOR if math.isnan(s) else max(FLOOR, Z * s * math.sqrt(k))
        move_close, move_open = math.log(c / ref_close), math.log(o / ref_close)
        if max(abs(move_close), abs(move_open)) <= bound:
            ref_time, ref_close = t, c
            continue
        sigma_text = "unknown" if math.isnan(s) else f"{s:.5f}"
        problems.append(
            CandleProblem(
                index=int(i),
                reason="jump",
                detail=f"close {c:g} (open {o:g}) at {_utc(t)} jumps from close {ref_close:g} at {_utc(ref_time)} "
                f"({k} bar{'s' if k != 1 else ''} earlier): log move {move_close:+.3f} (open {move_open:+.3f}), "
                f"bound ±{bound:.3f} (max of {FLOOR:g} and {Z:g} × σ {sigma_text} × √{k})",
                reference_time_ms=ref_time,
                reference_close=ref_close,
            )
        )
    problems.sort(key=lambda p: p.index)
    return problems


def largest_move_ratio(candles: Candles) -> tuple[float, int]:
    """The largest close-to-close (or open) move as a fraction of its bound, and the candle's index:
    how much room real data leaves below the bound."""
    ok = ~inconsistent(candles)
    times, opens, closes = candles.open_time[ok], candles.open[ok], candles.close[ok]
    sigma = _sigma_per_bar(times, closes)
    if closes.size < 2:
        return 0.0, -1
    k = np.maximum((times[1:] - times[:-1]) // BASE_BAR_MS, 1).astype(np.float64)
    moves = np.maximum(np.abs(np.diff(np.log(closes))), np.abs(np.log(opens[1:] / closes[:-1])))
    bounds = np.where(np.isnan(sigma[1:]), FLOOR, np.maximum(FLOOR, Z * np.nan_to_num(sigma[1:]) * np.sqrt(k)))
    ratios = moves / bounds
    j = int(np.argmax(ratios))
    return float(ratios[j]), int(np.flatnonzero(ok)[j + 1])


__all__ = ["FLOOR", "CandleProblem", "Candles", "Z", "candle_problems", "inconsistent", "largest_move_ratio"]
