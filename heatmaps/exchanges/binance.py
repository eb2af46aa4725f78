"""Binance USDⓈ-M futures REST connector (``https://fapi.binance.com``, public endpoints, no key)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from heatmaps.exchanges.base import (
    DAY_MS,
    BaseConnector,
    Fields,
    MarkPrice,
    Page,
    bar_windows,
    dedupe_sorted,
    wall_clock_ms,
)
from heatmaps.exchanges.errors import (
    ExchangeError,
    PermanentExchangeError,
    RateLimitedError,
    TransientExchangeError,
    UnknownSymbolError,
)
from heatmaps.exchanges.http import HttpClient
from heatmaps.exchanges.ratelimit import DEFAULT_BUCKET, RateLimiter
from heatmaps.rows import BASE_BAR_MS, CandleRow, FundingRow, OpenInterestRow

log = logging.getLogger("heatmaps.exchanges.binance")

CODE = "binance"
DEFAULT_REST_URL = "https://fapi.binance.com"
DEFAULT_WS_URL = "wss://fstream.binance.com/ws/!forceOrder@arr"
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"

KLINES = "/fapi/v1/klines"
OI_HIST = "/futures/data/openInterestHist"
OI_NOW = "/fapi/v1/openInterest"
FUNDING = "/fapi/v1/fundingRate"
PREMIUM_INDEX = "/fapi/v1/premiumIndex"
MARK_PRICE_KLINES = "/fapi/v1/markPriceKlines"

KLINES_LIMIT = 1000  # weight 5; 1500 would cost 10
OI_LIMIT = 500  # the documented maximum
FUNDING_LIMIT = 1000  # the documented maximum
OI_HISTORY_MS = 30 * DAY_MS  # "Only the data of the latest 1 month is available."
OI_HISTORY_MARGIN_MS = 2 * BASE_BAR_MS

# Binance error codes that mean "try again later".
_TRANSIENT_CODES = {-1000, -1001, -1007, -1008}
_RATE_CODES = {-1003, -1015}


def klines_weight(limit: int) -> int:
    """Request weight of ``/fapi/v1/klines`` by ``limit``: [1,100)→1, [100,500)→2, [500,1000]→5, >1000→10."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


def classify_error(status: int, body: Any, endpoint: str) -> ExchangeError | None:
    """Map a Binance error body ``{"code": -1121, "msg": "Invalid symbol."}`` to an error."""
    if not isinstance(body, dict) or "code" not in body:
        return None
    try:
        code = int(body["code"])
    except (TypeError, ValueError):
        return None
    msg = f"binance {endpoint}: HTTP {status} code {code}: {body.get('msg', '')}"
    if code == -1121:
        return UnknownSymbolError(msg, exchange=CODE, endpoint=endpoint, status=status, code=str(code))
    if code in _RATE_CODES:
        return RateLimitedError(msg, exchange=CODE, endpoint=endpoint, status=status)
    if code in _TRANSIENT_CODES or status >= 500:
        return TransientExchangeError(msg, exchange=CODE, endpoint=endpoint, status=status)
    return PermanentExchangeError(msg, exchange=CODE, endpoint=endpoint, status=status, code=str(code))


def make_http(base_url: str = DEFAULT_REST_URL, *, limiter: RateLimiter | None = None, **kwargs: Any) -> HttpClient:
    kwargs.setdefault("ban_statuses", {418: 120.0})
    return HttpClient(
        CODE, base_url, limiter=limiter, weight_header=WEIGHT_HEADER, classify_error=classify_error, **kwargs
    )


# --------------------------------------------------------------------------- payload parsers (pure)


def _check_error_body(f: Fields, payload: Any) -> None:
    """A 200 with ``{"code": …, "msg": …}`` instead of data."""
    if isinstance(payload, dict) and "code" in payload and "msg" in payload:
        exc = classify_error(200, payload, f.endpoint)
        raise exc if exc is not None else f.bad(f"error body {payload!r}")


def parse_klines(payload: Any, *, now_ms: int, endpoint: str = KLINES) -> list[CandleRow]:
    """12-element arrays (strings) → closed CandleRows; a candle whose closeTime ≥ now is still forming."""
    f = Fields(CODE, endpoint)
    _check_error_body(f, payload)
    out = []
    for i, row in enumerate(f.list_(payload, "response")):
        row = f.list_(row, f"row {i}")
        if len(row) < 11:
            raise f.bad(f"row {i} has {len(row)} elements, expected 12: {row!r}")
        open_time = f.ms(row[0], f"row {i} openTime")
        close_time = f.ms(row[6], f"row {i} closeTime")
        o, h, lo, c = (
            f.req_num(row[k], f"row {i} {name}") for k, name in ((1, "open"), (2, "high"), (3, "low"), (4, "close"))
        )
        if h < lo:
            raise f.bad(f"row {i} high {h} < low {lo}")
        if close_time >= now_ms:
            continue  # still forming
        out.append(
            CandleRow(
                open_time_ms=open_time,
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=f.num(row[5], f"row {i} volume", allow_empty=True),
                taker_buy_volume=f.num(row[9], f"row {i} takerBuyBaseAssetVolume", allow_empty=True),
                quote_volume=f.num(row[7], f"row {i} quoteAssetVolume", allow_empty=True),
            )
        )
    return out


def parse_mark_price_klines(payload: Any, *, now_ms: int, endpoint: str = MARK_PRICE_KLINES) -> list[CandleRow]:
    """The klines' 12-element arrays, whose volume fields are "0" placeholders → closed mark-price bars as
    CandleRows without volumes; a bar whose closeTime ≥ now is still forming."""
    return [
        CandleRow(r.open_time_ms, r.open, r.high, r.low, r.close, None, None, None)
        for r in parse_klines(payload, now_ms=now_ms, endpoint=endpoint)
    ]


def parse_open_interest_hist(payload: Any, *, endpoint: str = OI_HIST) -> list[OpenInterestRow]:
    """``[{symbol, sumOpenInterest, sumOpenInterestValue, timestamp}]`` → OpenInterestRows."""
    f = Fields(CODE, endpoint)
    _check_error_body(f, payload)
    out = []
    for i, item in enumerate(f.list_(payload, "response")):
        item = f.dict_(item, f"row {i}")
        out.append(
            OpenInterestRow(
                time_ms=f.ms(f.key(item, "timestamp", f"row {i}"), f"row {i} timestamp"),
                oi_base=f.num(f.key(item, "sumOpenInterest", f"row {i}"), f"row {i} sumOpenInterest"),
                oi_value=f.num(
                    f.key(item, "sumOpenInterestValue", f"row {i}"), f"row {i} sumOpenInterestValue", allow_empty=True
                ),
            )
        )
    return out


def parse_open_interest_now(payload: Any, *, endpoint: str = OI_NOW) -> OpenInterestRow:
    """``{"openInterest": "10659.509", "symbol": "BTCUSDT", "time": 1589437530011}`` (base coin only)."""
    f = Fields(CODE, endpoint)
    _check_error_body(f, payload)
    item = f.dict_(payload, "response")
    return OpenInterestRow(
        time_ms=f.ms(f.key(item, "time", "response"), "time"),
        oi_base=f.num(f.key(item, "openInterest", "response"), "openInterest"),
        oi_value=None,
    )


def parse_funding(payload: Any, *, endpoint: str = FUNDING) -> list[FundingRow]:
    """``[{symbol, fundingRate, fundingTime, markPrice}]``; ``markPrice`` may be "" (old rows) or absent."""
    f = Fields(CODE, endpoint)
    _check_error_body(f, payload)
    out = []
    for i, item in enumerate(f.list_(payload, "response")):
        item = f.dict_(item, f"row {i}")
        out.append(
            FundingRow(
                time_ms=f.ms(f.key(item, "fundingTime", f"row {i}"), f"row {i} fundingTime"),
                rate=f.req_num(f.key(item, "fundingRate", f"row {i}"), f"row {i} fundingRate"),
                mark_price=f.num(item.get("markPrice"), f"row {i} markPrice", allow_empty=True),
            )
        )
    return out


def parse_premium_index(payload: Any, *, endpoint: str = PREMIUM_INDEX) -> MarkPrice:
    f = Fields(CODE, endpoint)
    _check_error_body(f, payload)
    item = f.dict_(payload, "response")
    next_funding = item.get("nextFundingTime")
    return MarkPrice(
        symbol=str(f.key(item, "symbol", "response")),
        mark_price=f.req_num(f.key(item, "markPrice", "response"), "markPrice"),
        index_price=f.num(item.get("indexPrice"), "indexPrice", allow_empty=True),
        last_funding_rate=f.num(item.get("lastFundingRate"), "lastFundingRate", allow_empty=True),
        next_funding_time_ms=f.ms(next_funding, "nextFundingTime") if next_funding not in (None, "", 0) else None,
        time_ms=f.ms(f.key(item, "time", "response"), "time"),
    )


# --------------------------------------------------------------------------- connector


class BinanceConnector(BaseConnector):
    code = CODE
    history_limits_ms = {"candles": None, "open_interest": OI_HISTORY_MS, "funding": None}

    def __init__(
        self,
        http: HttpClient,
        *,
        now_ms: Callable[[], int] = wall_clock_ms,
        klines_limit: int = KLINES_LIMIT,
    ) -> None:
        super().__init__(http, now_ms=now_ms)
        if not 1 <= klines_limit <= 1500:
            raise ValueError("klines_limit must be in [1, 1500]")
        self.klines_limit = klines_limit

    def instrument(self, base: str, quote: str) -> str:
        return f"{base}{quote}".upper()

    def iter_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]:
        return self._iter_kline_pages(KLINES, parse_klines, symbol, start_ms, end_ms)

    def _iter_kline_pages(
        self, path: str, parse: Callable[..., list[CandleRow]], symbol: str, start_ms: int, end_ms: int
    ) -> Iterator[Page[CandleRow]]:
        """Windows of ``klines_limit`` 5-minute bars of a klines-shaped endpoint (klines, markPriceKlines:
        the same layout and request weight), closed bars only."""
        end_ms = self._clamp_end(end_ms)
        for ws, we in bar_windows(start_ms, end_ms, self.klines_limit):
            now = self.now_ms()
            params = {
                "symbol": symbol,
                "interval": "5m",
                "startTime": ws,
                "endTime": we - 1,
                "limit": self.klines_limit,
            }
            rows = self.http.get(
                path,
                params,
                parse=partial(parse, now_ms=now),
                costs={DEFAULT_BUCKET: klines_weight(self.klines_limit)},
            )
            yield Page([r for r in rows if ws <= r.open_time_ms < we], we - start_ms)

    def iter_open_interest(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[OpenInterestRow]]:
        end_ms = self._clamp_end(end_ms)
        oldest = self.now_ms() - OI_HISTORY_MS + OI_HISTORY_MARGIN_MS
        first = max(start_ms, oldest)
        if first > start_ms:
            log.info("binance %s: open interest history only goes back 30 days; starting at %d", symbol, first)
        for ws, we in bar_windows(first, end_ms, OI_LIMIT):
            params = {"symbol": symbol, "period": "5m", "startTime": ws, "endTime": we - 1, "limit": OI_LIMIT}
            rows = self.http.get(
                OI_HIST, params, parse=parse_open_interest_hist, costs={DEFAULT_BUCKET: 0, "openInterestHist": 1}
            )
            yield Page([r for r in rows if ws <= r.time_ms < we], we - start_ms)

    def iter_funding(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[FundingRow]]:
        """Forward paging: the endpoint returns ``startTime`` + ``limit`` rows, ascending (bounds inclusive)."""
        cursor = start_ms
        while cursor < end_ms:
            params = {"symbol": symbol, "startTime": cursor, "endTime": end_ms - 1, "limit": FUNDING_LIMIT}
            rows = self.http.get(FUNDING, params, parse=parse_funding, costs={"fundingRate": 1})
            kept = [r for r in rows if cursor <= r.time_ms < end_ms]
            last = max((r.time_ms for r in kept), default=None)
            if last is None:
                yield Page([], end_ms - start_ms)
                return
            done = len(rows) < FUNDING_LIMIT
            yield Page(kept, end_ms - start_ms if done else last + 1 - start_ms)
            if done:
                return
            cursor = last + 1

    def fetch_current_open_interest(self, symbol: str) -> OpenInterestRow:
        """Current OI in base coin (``oi_value`` None): poll it to extend the series past the 30-day window."""
        return self.http.get(OI_NOW, {"symbol": symbol}, parse=parse_open_interest_now, costs={DEFAULT_BUCKET: 1})

    def fetch_mark_price(self, symbol: str) -> MarkPrice:
        """Mark/index price, last funding rate and next funding time (``premiumIndex``)."""
        return self.http.get(PREMIUM_INDEX, {"symbol": symbol}, parse=parse_premium_index, costs={DEFAULT_BUCKET: 1})

    def iter_mark_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]:
        """5-minute mark-price bars (``markPriceKlines``: the klines' windows and request weight)."""
        return self._iter_kline_pages(MARK_PRICE_KLINES, parse_mark_price_klines, symbol, start_ms, end_ms)

    def fetch_mark_candles(self, symbol: str, start_ms: int, end_ms: int) -> list[CandleRow]:
        rows = [r for page in self.iter_mark_candles(symbol, start_ms, end_ms) for r in page.rows]
        return dedupe_sorted((r for r in rows if start_ms <= r.open_time_ms < end_ms), lambda r: r.open_time_ms)
