"""The connector interface and small shared helpers (the errors are in ``errors``).

Pure Python: no Django imports. Every time is integer milliseconds since the epoch, UTC.
Ranges are half-open: ``start_ms`` inclusive, ``end_ms`` exclusive.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from heatmaps.exchanges.errors import MalformedPayload
from heatmaps.exchanges.http import Health, HttpClient
from heatmaps.rows import BASE_BAR_MS, CandleRow, FundingRow, OpenInterestRow

DataKind = Literal["candles", "open_interest", "funding"]
DAY_MS = 86_400_000


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True, slots=True)
class PageProgress:
    """Reported after each page so a CLI can show progress."""

    exchange: str
    kind: DataKind
    symbol: str
    pages: int  # pages fetched so far
    rows: int  # rows kept so far (inside the range)
    start_ms: int
    end_ms: int
    covered_ms: int  # how much of [start_ms, end_ms) has been walked

    @property
    def fraction(self) -> float:
        span = self.end_ms - self.start_ms
        return 1.0 if span <= 0 else min(1.0, max(0.0, self.covered_ms / span))


ProgressCallback = Callable[[PageProgress], None]


# --------------------------------------------------------------------------- the interface

R = TypeVar("R", CandleRow, OpenInterestRow, FundingRow)


@dataclass(frozen=True, slots=True)
class Page[R: (CandleRow, OpenInterestRow, FundingRow)]:
    """One fetched page: its rows inside [start_ms, end_ms) (not yet deduped across pages), and how much
    of the range has been walked once this page is in."""

    rows: list[R]
    covered_ms: int


@dataclass(frozen=True, slots=True)
class MarkPrice:
    symbol: str
    mark_price: float
    index_price: float | None
    last_funding_rate: float | None
    next_funding_time_ms: int | None
    time_ms: int


@runtime_checkable
class Connector(Protocol):
    code: str  # "binance" | "bybit" | "okx"

    def instrument(self, base: str, quote: str) -> str: ...

    def max_history_ms(self, kind: DataKind) -> int | None:
        """How far back (from now) the REST API serves ``kind`` at 5m; None = no documented limit."""
        ...

    def iter_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]: ...

    def fetch_candles(
        self, symbol: str, start_ms: int, end_ms: int, *, progress: ProgressCallback | None = None
    ) -> list[CandleRow]: ...

    def iter_open_interest(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[OpenInterestRow]]: ...

    def fetch_open_interest(
        self, symbol: str, start_ms: int, end_ms: int, *, progress: ProgressCallback | None = None
    ) -> list[OpenInterestRow]: ...

    def iter_funding(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[FundingRow]]: ...

    def fetch_funding(
        self, symbol: str, start_ms: int, end_ms: int, *, progress: ProgressCallback | None = None
    ) -> list[FundingRow]: ...

    @property
    def health(self) -> Health: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- parsing helpers

T = TypeVar("T")

# Every time the three exchanges document is epoch milliseconds. A value in seconds (a 10-digit number)
# or in microseconds would land decades away from the bar it belongs to, so it is refused, not stored.
EARLIEST_MS = 1_420_070_400_000  # 2015-01-01T00:00:00Z: before any of these derivatives markets
LATEST_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z


def epoch_ms_problem(ms: int) -> str | None:
    """Why ``ms`` cannot be an exchange time in milliseconds (None when it can): the one check every parser
    runs through ``Fields.ms``, as the file importer does for dump files."""
    if EARLIEST_MS <= ms < LATEST_MS:
        return None
    if EARLIEST_MS // 1000 <= ms < LATEST_MS // 1000:
        return "is in seconds, not the documented milliseconds"
    return "is outside the years 2015-2100 (not epoch milliseconds)"


class Fields:
    """Checked field access for one endpoint: every failure becomes MalformedPayload naming the endpoint."""

    def __init__(self, exchange: str, endpoint: str) -> None:
        self.exchange = exchange
        self.endpoint = endpoint

    def bad(self, problem: str) -> MalformedPayload:
        return MalformedPayload(self.endpoint, problem, exchange=self.exchange)

    def num(self, value: Any, what: str, *, allow_empty: bool = False) -> float | None:
        """A finite float from a string or a number ("" → None when allowed)."""
        if isinstance(value, bool):
            raise self.bad(f"{what} is a boolean: {value!r}")
        if value is None or value == "":
            if allow_empty:
                return None
            raise self.bad(f"{what} is missing or empty")
        if isinstance(value, int | float):
            out = float(value)
        elif isinstance(value, str):
            try:
                out = float(value.strip())
            except ValueError:
                raise self.bad(f"{what} is not a number: {value!r}") from None
        else:
            raise self.bad(f"{what} has type {type(value).__name__}: {value!r}")
        if not math.isfinite(out):
            raise self.bad(f"{what} is not finite: {value!r}")
        return out

    def req_num(self, value: Any, what: str) -> float:
        out = self.num(value, what)
        assert out is not None
        return out

    def ms(self, value: Any, what: str) -> int:
        """Epoch milliseconds from an int, an integral float or a digit string, inside 2015-2100: a time in
        seconds or out of range is MalformedPayload (a permanent error) naming the field."""
        if isinstance(value, bool):
            raise self.bad(f"{what} is a boolean: {value!r}")
        if isinstance(value, int):
            out = value
        elif isinstance(value, float) and value.is_integer():
            out = int(value)
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            out = int(value.strip())
        else:
            raise self.bad(f"{what} is not an integer millisecond time: {value!r}")
        problem = epoch_ms_problem(out)
        if problem is not None:
            raise self.bad(f"{what} {value!r} {problem}")
        return out

    def candle(
        self, row: Any, i: int, *, expected: int, time_name: str = "startTime"
    ) -> tuple[list[Any], int, float, float, float, float]:
        """Row ``i`` of a candle array ``[time, open, high, low, close, …]`` with at least ``expected``
        elements: the row, its time (ms) and its prices, high not below low."""
        row = self.list_(row, f"row {i}")
        if len(row) < expected:
            raise self.bad(f"row {i} has {len(row)} elements, expected {expected}: {row!r}")
        start = self.ms(row[0], f"row {i} {time_name}")
        o, h, lo, c = (
            self.req_num(row[k], f"row {i} {n}") for k, n in ((1, "open"), (2, "high"), (3, "low"), (4, "close"))
        )
        if h < lo:
            raise self.bad(f"row {i} high {h} < low {lo}")
        return row, start, o, h, lo, c

    def list_(self, value: Any, what: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.bad(f"{what} is not a list but {type(value).__name__}")
        return value

    def dict_(self, value: Any, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.bad(f"{what} is not an object but {type(value).__name__}")
        return value

    def key(self, obj: dict[str, Any], key: str, what: str) -> Any:
        if key not in obj:
            raise self.bad(f"{what} has no {key!r}")
        return obj[key]


def dedupe_sorted[T](rows: Iterable[T], key: Callable[[T], int]) -> list[T]:
    """Sort by time and keep the last row seen for each time."""
    by_time: dict[int, T] = {}
    for row in rows:
        by_time[key(row)] = row
    return [by_time[t] for t in sorted(by_time)]


def align_down(ms: int, step: int = BASE_BAR_MS) -> int:
    return ms - ms % step


def align_up(ms: int, step: int = BASE_BAR_MS) -> int:
    return -(-ms // step) * step


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def bar_windows(start_ms: int, end_ms: int, per_page: int, step_ms: int = BASE_BAR_MS) -> Iterator[tuple[int, int]]:
    """Split [start_ms, end_ms) into half-open windows of at most ``per_page`` bars.

    A window of exactly ``per_page`` bars can hold at most ``per_page`` rows, so the page is complete
    whether the exchange fills it from the start or from the end of the window.
    """
    span = per_page * step_ms
    ws = start_ms
    while ws < end_ms:
        we = min(end_ms, ws + span)
        yield ws, we
        ws = we


# --------------------------------------------------------------------------- shared connector plumbing


class BaseConnector:
    """Collecting, deduping and progress reporting shared by the three connectors.

    Subclasses implement ``iter_candles``, ``iter_open_interest`` and ``iter_funding`` as generators of
    ``Page`` objects; ``fetch_*`` collect them (oldest first, one row per time).
    """

    code: str = ""
    history_limits_ms: dict[str, int | None] = {}

    def __init__(self, http: HttpClient, *, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.http = http
        self.now_ms = now_ms

    def instrument(self, base: str, quote: str) -> str:
        raise NotImplementedError

    def max_history_ms(self, kind: DataKind) -> int | None:
        return self.history_limits_ms.get(kind)

    @property
    def health(self) -> Health:
        return self.http.health

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> BaseConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def iter_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]:
        raise NotImplementedError

    def iter_open_interest(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[OpenInterestRow]]:
        raise NotImplementedError

    def iter_funding(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[FundingRow]]:
        raise NotImplementedError

    def fetch_candles(
        self, symbol: str, start_ms: int, end_ms: int, *, progress: ProgressCallback | None = None
    ) -> list[CandleRow]:
        pages = self.iter_candles(symbol, start_ms, end_ms)
        return self._collect("candles", symbol, start_ms, end_ms, pages, lambda r: r.open_time_ms, progress)

    def fetch_open_interest(
        self, symbol: str, start_ms: int, end_ms: int, *, progress: ProgressCallback | None = None
    ) -> list[OpenInterestRow]:
        pages = self.iter_open_interest(symbol, start_ms, end_ms)
        return self._collect("open_interest", symbol, start_ms, end_ms, pages, lambda r: r.time_ms, progress)

    def fetch_funding(
        self, symbol: str, start_ms: int, end_ms: int, *, progress: ProgressCallback | None = None
    ) -> list[FundingRow]:
        pages = self.iter_funding(symbol, start_ms, end_ms)
        return self._collect("funding", symbol, start_ms, end_ms, pages, lambda r: r.time_ms, progress)

    def _collect(
        self,
        kind: DataKind,
        symbol: str,
        start_ms: int,
        end_ms: int,
        pages: Iterator[Page[R]],
        key: Callable[[R], int],
        progress: ProgressCallback | None,
    ) -> list[R]:
        rows: list[R] = []
        n = 0
        for n, page in enumerate(pages, start=1):
            rows.extend(page.rows)
            if progress is not None:
                progress(PageProgress(self.code, kind, symbol, n, len(rows), start_ms, end_ms, page.covered_ms))
        return dedupe_sorted((r for r in rows if start_ms <= key(r) < end_ms), key)

    def _clamp_end(self, end_ms: int) -> int:
        """Nothing closes after now: don't ask for windows in the future."""
        return min(end_ms, self.now_ms() + 1)
