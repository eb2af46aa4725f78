"""BitMEX linear USDT perpetuals connector (API v1, ``https://www.bitmex.com``, public endpoints).

Only the linear, USDT-settled perpetuals (XBTUSDT, ETHUSDT, …) are read. BitMEX's best-known contract, XBTUSD,
is inverse (each contract is 1 USD, settled in XBT) and others are quanto: a contract of either is no fixed
amount of the coin, so an instrument that is inverse or quanto is refused rather than converted.

Per BitMEX's API explorer (bitmex.com/api/explorer) and its REST documentation:

- Times are ISO 8601 strings in UTC (``2024-01-01T00:05:00.000Z``).
- ``/api/v1/trade/bucketed`` (binSize=5m, partial, symbol, startTime, endTime, count ≤ 1000): buckets
  ``{timestamp, open, high, low, close, volume, homeNotional, foreignNotional, …}`` where ``timestamp`` is the
  **end** of the bucket, so the open time is ``timestamp`` − 5 minutes; ``volume`` is in contracts,
  ``homeNotional`` in the coin and ``foreignNotional`` in USDT.
- ``/api/v1/instrument`` (symbol): ``openInterest`` in contracts, ``underlyingToPositionMultiplier`` contracts
  per coin (or, where absent, ``homeNotional24h`` / ``volume24h``: coin per contract), ``markPrice``, ``indicativeSettlePrice`` (the index), ``fundingRate`` and ``fundingTimestamp`` (the
  next funding), ``isInverse``/``isQuanto``; there is no open-interest history.
- ``/api/v1/funding`` (symbol, startTime, endTime, count ≤ 500): ``{timestamp, fundingRate, fundingInterval}``.
- Without a key: 30 requests per minute.

Forced liquidations are left out: BitMEX's ``liquidation`` websocket table carries the order's ``leavesQty``
(what is left to fill), not the size that was liquidated, and no time (``venue_liquidations.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from heatmaps.exchanges.base import BaseConnector, Fields, MarkPrice, Page, align_down, bar_windows, wall_clock_ms
from heatmaps.exchanges.errors import (
    ExchangeError,
    PermanentExchangeError,
    RateLimitedError,
    TransientExchangeError,
    UnknownSymbolError,
)
from heatmaps.exchanges.http import HttpClient
from heatmaps.exchanges.ratelimit import RateLimiter
from heatmaps.rows import BASE_BAR_MS, CandleRow, FundingRow, OpenInterestRow

CODE = "bitmex"
DEFAULT_REST_URL = "https://www.bitmex.com"
DEFAULT_WS_URL = "wss://ws.bitmex.com/realtime"

BUCKETED = "/api/v1/trade/bucketed"
INSTRUMENT = "/api/v1/instrument"
ACTIVE = "/api/v1/instrument/active"
FUNDING = "/api/v1/funding"

BUCKETS_PER_PAGE = 1000  # the documented maximum count
FUNDING_COUNT = 500  # the documented maximum count
PERPETUAL = "FFWCSX"  # BitMEX's instrument type of a perpetual swap
MAX_PAGES = 100_000


def classify_error(status: int, body: Any, endpoint: str) -> ExchangeError | None:
    """BitMEX errors are ``{"error": {"message": "…", "name": "HTTPError"}}``."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    message = str(body["error"].get("message", ""))
    text = f"bitmex {endpoint}: HTTP {status}: {message}"
    if status == 429:
        return RateLimitedError(text, exchange=CODE, endpoint=endpoint, status=status)
    if status >= 500 or status == 503:
        return TransientExchangeError(text, exchange=CODE, endpoint=endpoint, status=status)
    if status == 404 or "symbol" in message.lower():
        return UnknownSymbolError(text, exchange=CODE, endpoint=endpoint, status=status)
    return PermanentExchangeError(text, exchange=CODE, endpoint=endpoint, status=status)


def make_http(base_url: str = DEFAULT_REST_URL, *, limiter: RateLimiter | None = None, **kwargs: Any) -> HttpClient:
    return HttpClient(CODE, base_url, limiter=limiter, classify_error=classify_error, **kwargs)


# --------------------------------------------------------------------------- payload parsers (pure)


def iso_ms(f: Fields, value: Any, what: str) -> int:
    """``2024-01-01T00:05:00.000Z`` → checked epoch milliseconds; a time without its zone is refused."""
    if not isinstance(value, str):
        raise f.bad(f"{what} is not an ISO time string: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise f.bad(f"{what} is not an ISO time: {value!r}") from None
    if parsed.tzinfo is None:
        raise f.bad(f"{what} {value!r} has no time zone")
    return f.ms(round(parsed.timestamp() * 1000), what)


def ms_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_buckets(payload: Any, *, now_ms: int, endpoint: str = BUCKETED) -> list[CandleRow]:
    """Buckets → closed CandleRows keyed by their open time (``timestamp`` − 5 min), oldest first; volume in
    the coin from ``homeNotional`` and in USDT from ``foreignNotional``."""
    f = Fields(CODE, endpoint)
    out = []
    for i, item in enumerate(f.list_(payload, "response")):
        item = f.dict_(item, f"row {i}")
        close_ms = iso_ms(f, f.key(item, "timestamp", f"row {i}"), f"row {i} timestamp")
        if close_ms % BASE_BAR_MS:
            raise f.bad(f"row {i} timestamp {item['timestamp']!r} is not on a 5-minute boundary")
        values = [f.num(item.get(k), f"row {i} {k}", allow_empty=True) for k in ("open", "high", "low", "close")]
        if any(v is None for v in values):
            continue  # a bucket without trades carries no prices
        o, h, lo, c = (v for v in values if v is not None)
        if h < lo:
            raise f.bad(f"row {i} high {h} < low {lo}")
        if close_ms > now_ms:
            continue  # still forming
        out.append(
            CandleRow(
                open_time_ms=close_ms - BASE_BAR_MS,
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=f.num(item.get("homeNotional"), f"row {i} homeNotional", allow_empty=True),
                taker_buy_volume=None,
                quote_volume=f.num(item.get("foreignNotional"), f"row {i} foreignNotional", allow_empty=True),
            )
        )
    out.sort(key=lambda r: r.open_time_ms)
    return out


def parse_funding(payload: Any, *, endpoint: str = FUNDING) -> list[FundingRow]:
    f = Fields(CODE, endpoint)
    out = []
    for i, item in enumerate(f.list_(payload, "response")):
        item = f.dict_(item, f"row {i}")
        out.append(
            FundingRow(
                time_ms=iso_ms(f, f.key(item, "timestamp", f"row {i}"), f"row {i} timestamp"),
                rate=f.req_num(f.key(item, "fundingRate", f"row {i}"), f"row {i} fundingRate"),
                mark_price=None,
            )
        )
    out.sort(key=lambda r: r.time_ms)
    return out


@dataclass(frozen=True, slots=True)
class BitmexInstrument:
    symbol: str
    perpetual: bool
    linear: bool  # neither inverse nor quanto: a contract is a fixed amount of the coin
    coin_per_contract: float | None  # for a linear contract; None when the answer does not say
    open_interest: float | None  # contracts
    mark_price: float | None
    index_price: float | None
    funding_rate: float | None
    next_funding_ms: int | None
    time_ms: int | None
    state: str


def _instrument(f: Fields, item: Any, where: str) -> BitmexInstrument:
    item = f.dict_(item, where)
    next_funding = item.get("fundingTimestamp")
    stamp = item.get("timestamp")
    # Coin per contract: 1 / underlyingToPositionMultiplier where the instrument states it, else the ratio of
    # its 24-hour volume in the coin to its 24-hour volume in contracts (constant for a linear contract).
    per_position = f.num(
        item.get("underlyingToPositionMultiplier"), f"{where}.underlyingToPositionMultiplier", allow_empty=True
    )
    home_24h = f.num(item.get("homeNotional24h"), f"{where}.homeNotional24h", allow_empty=True)
    volume_24h = f.num(item.get("volume24h"), f"{where}.volume24h", allow_empty=True)
    coin_per_contract = 1 / per_position if per_position else home_24h / volume_24h if home_24h and volume_24h else None
    return BitmexInstrument(
        symbol=str(f.key(item, "symbol", where)),
        perpetual=item.get("typ") == PERPETUAL,
        linear=not item.get("isInverse") and not item.get("isQuanto"),
        coin_per_contract=coin_per_contract,
        open_interest=f.num(item.get("openInterest"), f"{where}.openInterest", allow_empty=True),
        mark_price=f.num(item.get("markPrice"), f"{where}.markPrice", allow_empty=True),
        index_price=f.num(item.get("indicativeSettlePrice"), f"{where}.indicativeSettlePrice", allow_empty=True),
        funding_rate=f.num(item.get("fundingRate"), f"{where}.fundingRate", allow_empty=True),
        next_funding_ms=iso_ms(f, next_funding, f"{where}.fundingTimestamp") if next_funding else None,
        time_ms=iso_ms(f, stamp, f"{where}.timestamp") if stamp else None,
        state=str(item.get("state", "")),
    )


def parse_instruments(payload: Any, *, endpoint: str = INSTRUMENT) -> list[BitmexInstrument]:
    f = Fields(CODE, endpoint)
    return [_instrument(f, item, f"row {i}") for i, item in enumerate(f.list_(payload, "response"))]


# --------------------------------------------------------------------------- connector


class BitmexConnector(BaseConnector):
    code = CODE
    # Open interest: only the figure now (no history endpoint).
    history_limits_ms = {"candles": None, "open_interest": BASE_BAR_MS, "funding": None}

    def __init__(self, http: HttpClient, *, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        super().__init__(http, now_ms=now_ms)

    def instrument(self, base: str, quote: str) -> str:
        """BitMEX calls bitcoin XBT: BTC/USDT is XBTUSDT."""
        base = base.upper()
        return f"{'XBT' if base == 'BTC' else base}{quote}".upper()

    def fetch_instrument(self, symbol: str) -> BitmexInstrument:
        """The linear perpetual ``symbol``; an inverse or quanto contract, or no contract at all, is refused."""
        found = [
            i for i in self.http.get(INSTRUMENT, {"symbol": symbol}, parse=parse_instruments) if i.symbol == symbol
        ]
        if not found:
            raise UnknownSymbolError(f"bitmex: no instrument {symbol!r}", exchange=CODE, endpoint=INSTRUMENT)
        inst = found[0]
        if not inst.perpetual or not inst.linear:
            raise UnknownSymbolError(
                f"bitmex: {symbol} is not a linear perpetual (inverse and quanto contracts are not read)",
                exchange=CODE,
                endpoint=INSTRUMENT,
            )
        return inst

    def fetch_symbols(self) -> list[str]:
        active = self.http.get(ACTIVE, parse=partial(parse_instruments, endpoint=ACTIVE), endpoint=ACTIVE)
        return [i.symbol for i in active if i.perpetual and i.linear]

    def iter_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]:
        """Buckets are stamped with their end: the window [ws, we) of open times is the stamps (ws, we]."""
        end_ms = self._clamp_end(end_ms)
        for ws, we in bar_windows(start_ms, end_ms, BUCKETS_PER_PAGE):
            params = {
                "binSize": "5m",
                "partial": "false",
                "symbol": symbol,
                "startTime": ms_iso(ws + BASE_BAR_MS),
                "endTime": ms_iso(we),
                "count": BUCKETS_PER_PAGE,
                "reverse": "false",
            }
            rows = self.http.get(BUCKETED, params, parse=partial(parse_buckets, now_ms=self.now_ms()))
            yield Page([r for r in rows if ws <= r.open_time_ms < we], we - start_ms)

    def iter_open_interest(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[OpenInterestRow]]:
        """The open interest now in the coin (contracts × coin per contract), stamped on the
        5-minute boundary at or before now; nothing when that is outside [start_ms, end_ms)."""
        at = align_down(self.now_ms())
        if not start_ms <= at < end_ms:
            yield Page([], end_ms - start_ms)
            return
        inst = self.fetch_instrument(symbol)
        if inst.open_interest is None or not inst.coin_per_contract:
            yield Page([], end_ms - start_ms)
            return
        base = inst.open_interest * inst.coin_per_contract
        value = base * inst.mark_price if inst.mark_price is not None else None
        yield Page([OpenInterestRow(at, base, value)], end_ms - start_ms)

    def iter_funding(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[FundingRow]]:
        """Forward from ``startTime``; a full page goes on after its newest row."""
        cursor = start_ms
        for _ in range(MAX_PAGES):
            if cursor >= end_ms:
                return
            params = {
                "symbol": symbol,
                "startTime": ms_iso(cursor),
                "endTime": ms_iso(end_ms - 1),
                "count": FUNDING_COUNT,
                "reverse": "false",
            }
            rows = self.http.get(FUNDING, params, parse=parse_funding)
            kept = [r for r in rows if cursor <= r.time_ms < end_ms]
            if not kept:
                yield Page([], end_ms - start_ms)
                return
            done = len(rows) < FUNDING_COUNT
            yield Page(kept, end_ms - start_ms if done else kept[-1].time_ms + 1 - start_ms)
            if done:
                return
            cursor = kept[-1].time_ms + 1

    def fetch_mark_price(self, symbol: str) -> MarkPrice:
        inst = self.fetch_instrument(symbol)
        if inst.mark_price is None:
            raise Fields(CODE, INSTRUMENT).bad(f"{symbol}: no markPrice")
        return MarkPrice(
            symbol=symbol,
            mark_price=inst.mark_price,
            index_price=inst.index_price,
            last_funding_rate=inst.funding_rate,
            next_funding_time_ms=inst.next_funding_ms,
            time_ms=inst.time_ms if inst.time_ms is not None else self.now_ms(),
        )
