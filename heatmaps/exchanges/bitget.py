"""Bitget USDT-M perpetuals connector (v2 mix API, ``https://api.bitget.com``, public endpoints).

Per Bitget's v2 documentation (bitget.com/api-doc/contract/market/…), every answer is the envelope
``{"code": "00000", "msg": "success", "requestTime": …, "data": …}`` with numbers as strings:

- ``history-candles`` (symbol, productType, granularity, startTime, endTime, limit ≤ 200): rows
  ``[ts, open, high, low, close, baseVolume, quoteVolume]``, ``ts`` the open time in ms; it serves the whole
  history (``candles`` only the recent weeks), so it is the one used.
- ``open-interest``: ``{"openInterestList": [{"symbol", "size"}], "ts"}``, ``size`` in the base coin, now only
  (no history endpoint).
- ``history-fund-rate`` (pageSize ≤ 100, pageNo from 1): ``[{symbol, fundingRate, fundingTime}]``, newest first.
- ``ticker``: mark and index price, the current funding rate. ``contracts``: the instrument list (quantities
  are in the base coin, ``sizeMultiplier`` is only the order step).
- Public endpoints allow 20 requests per second per IP each.

Forced liquidations are left out: the v2 API has no public liquidation feed, and the unified-account (v3)
websocket's public ``liquidation`` topic keeps only the largest liquidation of each side per symbol and second
(``venue_liquidations.py`` says more).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from heatmaps.exchanges.base import (
    BaseConnector,
    Fields,
    MarkPrice,
    Page,
    align_down,
    bar_windows,
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

CODE = "bitget"
DEFAULT_REST_URL = "https://api.bitget.com"
DEFAULT_WS_URL = "wss://ws.bitget.com/v2/ws/public"
PRODUCT_TYPE = "USDT-FUTURES"

HISTORY_CANDLES = "/api/v2/mix/market/history-candles"
OPEN_INTEREST = "/api/v2/mix/market/open-interest"
FUNDING = "/api/v2/mix/market/history-fund-rate"
TICKER = "/api/v2/mix/market/ticker"
CONTRACTS = "/api/v2/mix/market/contracts"

CANDLES_LIMIT = 200  # history-candles maximum
FUNDING_PAGE_SIZE = 100  # history-fund-rate maximum
MAX_PAGES = 10_000
OK = "00000"

_RATE_CODES = {"429", "40018"}  # "Too Many Requests"; 40018 "Invalid IP request frequency"
_UNKNOWN_SYMBOL_CODES = {"40034", "40309"}  # parameter (the symbol) does not exist; symbol removed


def _error_for(code: str, msg: str, endpoint: str, status: int = 200) -> ExchangeError:
    text = f"bitget {endpoint}: code {code}: {msg}"
    if code in _RATE_CODES:
        return RateLimitedError(text, exchange=CODE, endpoint=endpoint, status=status)
    if status >= 500:
        return TransientExchangeError(text, exchange=CODE, endpoint=endpoint, status=status)
    if code in _UNKNOWN_SYMBOL_CODES:
        return UnknownSymbolError(text, exchange=CODE, endpoint=endpoint, status=status, code=code)
    return PermanentExchangeError(text, exchange=CODE, endpoint=endpoint, status=status, code=code)


def classify_error(status: int, body: Any, endpoint: str) -> ExchangeError | None:
    if isinstance(body, dict) and "code" in body:
        return _error_for(str(body["code"]), str(body.get("msg", "")), endpoint, status)
    return None


def make_http(base_url: str = DEFAULT_REST_URL, *, limiter: RateLimiter | None = None, **kwargs: Any) -> HttpClient:
    return HttpClient(CODE, base_url, limiter=limiter, classify_error=classify_error, **kwargs)


# --------------------------------------------------------------------------- payload parsers (pure)


def unwrap(payload: Any, endpoint: str) -> tuple[Fields, Any]:
    """Check the envelope and return ``data``."""
    f = Fields(CODE, endpoint)
    env = f.dict_(payload, "response")
    code = str(f.key(env, "code", "envelope"))
    if code != OK:
        raise _error_for(code, str(env.get("msg", "")), endpoint)
    return f, env.get("data")


def parse_candles(payload: Any, *, now_ms: int, endpoint: str = HISTORY_CANDLES) -> list[CandleRow]:
    """Rows ``[ts, o, h, l, c, baseVolume, quoteVolume]`` → closed candles, oldest first; a bar not closed at
    ``now_ms`` is dropped."""
    f, data = unwrap(payload, endpoint)
    out = []
    for i, row in enumerate(f.list_(data if data is not None else [], "data")):
        row = f.list_(row, f"row {i}")
        if len(row) < 7:
            raise f.bad(f"row {i} has {len(row)} elements, expected 7: {row!r}")
        ts = f.ms(row[0], f"row {i} ts")
        o, h, lo, c = (
            f.req_num(row[k], f"row {i} {n}") for k, n in ((1, "open"), (2, "high"), (3, "low"), (4, "close"))
        )
        if h < lo:
            raise f.bad(f"row {i} high {h} < low {lo}")
        if ts + BASE_BAR_MS > now_ms:
            continue  # still forming
        out.append(
            CandleRow(
                open_time_ms=ts,
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=f.num(row[5], f"row {i} baseVolume", allow_empty=True),
                taker_buy_volume=None,
                quote_volume=f.num(row[6], f"row {i} quoteVolume", allow_empty=True),
            )
        )
    out.sort(key=lambda r: r.open_time_ms)
    return out


def parse_open_interest(payload: Any, *, symbol: str, endpoint: str = OPEN_INTEREST) -> tuple[int, float]:
    """``{"openInterestList": [{"symbol", "size"}], "ts"}`` → (ts, size in the base coin) of ``symbol``."""
    f, data = unwrap(payload, endpoint)
    data = f.dict_(data, "data")
    ts = f.ms(f.key(data, "ts", "data"), "data.ts")
    for i, item in enumerate(f.list_(f.key(data, "openInterestList", "data"), "data.openInterestList")):
        item = f.dict_(item, f"openInterestList[{i}]")
        if str(item.get("symbol", "")).upper() == symbol.upper():
            return ts, f.req_num(f.key(item, "size", f"openInterestList[{i}]"), f"openInterestList[{i}].size")
    raise UnknownSymbolError(f"bitget {endpoint}: no open interest for {symbol!r}", exchange=CODE, endpoint=endpoint)


def parse_funding(payload: Any, *, endpoint: str = FUNDING) -> list[FundingRow]:
    """``[{symbol, fundingRate, fundingTime}]`` (newest first) → oldest first."""
    f, data = unwrap(payload, endpoint)
    out = []
    for i, item in enumerate(f.list_(data if data is not None else [], "data")):
        item = f.dict_(item, f"row {i}")
        out.append(
            FundingRow(
                time_ms=f.ms(f.key(item, "fundingTime", f"row {i}"), f"row {i} fundingTime"),
                rate=f.req_num(f.key(item, "fundingRate", f"row {i}"), f"row {i} fundingRate"),
                mark_price=None,
            )
        )
    out.sort(key=lambda r: r.time_ms)
    return out


def parse_ticker(payload: Any, *, endpoint: str = TICKER) -> MarkPrice:
    """``data: [{symbol, markPrice, indexPrice, fundingRate, ts, …}]`` → MarkPrice (no next funding time here)."""
    f, data = unwrap(payload, endpoint)
    items = f.list_(data, "data")
    if not items:
        raise f.bad("data is empty")
    item = f.dict_(items[0], "data[0]")
    return MarkPrice(
        symbol=str(f.key(item, "symbol", "data[0]")),
        mark_price=f.req_num(f.key(item, "markPrice", "data[0]"), "markPrice"),
        index_price=f.num(item.get("indexPrice"), "indexPrice", allow_empty=True),
        last_funding_rate=f.num(item.get("fundingRate"), "fundingRate", allow_empty=True),
        next_funding_time_ms=None,
        time_ms=f.ms(f.key(item, "ts", "data[0]"), "ts"),
    )


def parse_contracts(payload: Any, *, endpoint: str = CONTRACTS) -> list[str]:
    """The perpetuals of ``contracts`` that trade now (``symbolType`` perpetual, ``symbolStatus`` normal)."""
    f, data = unwrap(payload, endpoint)
    out = []
    for i, item in enumerate(f.list_(data, "data")):
        item = f.dict_(item, f"data[{i}]")
        symbol = str(f.key(item, "symbol", f"data[{i}]"))
        if item.get("symbolType", "perpetual") != "perpetual":
            continue
        if item.get("symbolStatus", "normal") not in ("normal", "listed"):
            continue
        out.append(symbol)
    return out


# --------------------------------------------------------------------------- connector


class BitgetConnector(BaseConnector):
    code = CODE
    # Open interest: only the figure now (no history endpoint).
    history_limits_ms = {"candles": None, "open_interest": BASE_BAR_MS, "funding": None}

    def __init__(self, http: HttpClient, *, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        super().__init__(http, now_ms=now_ms)

    def instrument(self, base: str, quote: str) -> str:
        return f"{base}{quote}".upper()

    def fetch_symbols(self) -> list[str]:
        return self.http.get(CONTRACTS, {"productType": PRODUCT_TYPE}, parse=parse_contracts)

    def iter_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]:
        end_ms = self._clamp_end(end_ms)
        for ws, we in bar_windows(start_ms, end_ms, CANDLES_LIMIT):
            params = {
                "symbol": symbol,
                "productType": PRODUCT_TYPE,
                "granularity": "5m",
                "startTime": ws,
                "endTime": we - 1,
                "limit": CANDLES_LIMIT,
            }
            rows = self.http.get(HISTORY_CANDLES, params, parse=partial(parse_candles, now_ms=self.now_ms()))
            yield Page([r for r in rows if ws <= r.open_time_ms < we], we - start_ms)

    def iter_open_interest(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[OpenInterestRow]]:
        """The open interest now, stamped on the 5-minute boundary at or before the venue's ``ts`` (the close of
        the bar just ended); nothing when that time is outside [start_ms, end_ms)."""
        if not start_ms <= align_down(self.now_ms()) < end_ms:
            yield Page([], end_ms - start_ms)
            return
        params = {"symbol": symbol, "productType": PRODUCT_TYPE}
        ts, size = self.http.get(OPEN_INTEREST, params, parse=partial(parse_open_interest, symbol=symbol))
        at = align_down(ts)
        rows = [OpenInterestRow(at, size, None)] if start_ms <= at < end_ms else []
        yield Page(rows, end_ms - start_ms)

    def iter_funding(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[FundingRow]]:
        """Pages of 100 from the newest back (``pageNo`` 1, 2, …) until one reaches ``start_ms`` or runs short."""
        for page_no in range(1, MAX_PAGES + 1):
            params = {"symbol": symbol, "productType": PRODUCT_TYPE, "pageSize": FUNDING_PAGE_SIZE, "pageNo": page_no}
            rows = self.http.get(FUNDING, params, parse=parse_funding)
            kept = [r for r in rows if start_ms <= r.time_ms < end_ms]
            if not rows:
                yield Page([], end_ms - start_ms)
                return
            oldest = rows[0].time_ms
            done = oldest <= start_ms or len(rows) < FUNDING_PAGE_SIZE
            yield Page(kept, end_ms - start_ms if done else max(0, end_ms - oldest))
            if done:
                return

    def fetch_mark_price(self, symbol: str) -> MarkPrice:
        return self.http.get(
            TICKER, {"symbol": symbol, "productType": PRODUCT_TYPE}, parse=parse_ticker, costs={DEFAULT_BUCKET: 1}
        )
