"""Bybit v5 linear-perpetual REST connector (``https://api.bybit.com``, public endpoints)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from heatmaps.exchanges.base import BaseConnector, Fields, Page, bar_windows, wall_clock_ms
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

CODE = "bybit"
DEFAULT_REST_URL = "https://api.bybit.com"
DEFAULT_WS_URL = "wss://stream.bybit.com/v5/public/linear"

KLINE = "/v5/market/kline"
OPEN_INTEREST = "/v5/market/open-interest"
FUNDING = "/v5/market/funding/history"

KLINE_LIMIT = 1000
OI_LIMIT = 200
FUNDING_LIMIT = 200
MAX_CURSOR_PAGES = 50  # safety net against a cursor that never ends

# retCodes: 10006 "Too many visits", 10018 "Exceeded the IP rate limit"; 10000 / 10016 server errors.
_RATE_CODES = {10006, 10018}
_TRANSIENT_CODES = {10000, 10016, 10019, 170007, 170146}
BAN_SECONDS = 1800.0  # "Breaking them returns HTTP 403 and a ban, usually 30 minutes."


def _error_for(ret_code: int, ret_msg: str, endpoint: str, status: int = 200) -> ExchangeError:
    msg = f"bybit {endpoint}: retCode {ret_code}: {ret_msg}"
    if ret_code in _RATE_CODES:
        return RateLimitedError(msg, exchange=CODE, endpoint=endpoint, status=status)
    if ret_code in _TRANSIENT_CODES:
        return TransientExchangeError(msg, exchange=CODE, endpoint=endpoint, status=status)
    if ret_code == 10001 and "symbol" in ret_msg.lower():
        return UnknownSymbolError(msg, exchange=CODE, endpoint=endpoint, status=status, code=str(ret_code))
    return PermanentExchangeError(msg, exchange=CODE, endpoint=endpoint, status=status, code=str(ret_code))


def classify_error(status: int, body: Any, endpoint: str) -> ExchangeError | None:
    if isinstance(body, dict) and "retCode" in body:
        try:
            code = int(body["retCode"])
        except (TypeError, ValueError):
            return None
        if status >= 500:
            return TransientExchangeError(
                f"bybit {endpoint}: HTTP {status} retCode {code}", exchange=CODE, endpoint=endpoint, status=status
            )
        return _error_for(code, str(body.get("retMsg", "")), endpoint, status)
    return None


def make_http(base_url: str = DEFAULT_REST_URL, *, limiter: RateLimiter | None = None, **kwargs: Any) -> HttpClient:
    kwargs.setdefault("ban_statuses", {403: BAN_SECONDS, 418: 120.0})
    return HttpClient(CODE, base_url, limiter=limiter, classify_error=classify_error, **kwargs)


# --------------------------------------------------------------------------- payload parsers (pure)


def unwrap(payload: Any, endpoint: str) -> tuple[Fields, dict[str, Any]]:
    """Check the v5 envelope ``{retCode, retMsg, result, …}`` and return ``result``."""
    f = Fields(CODE, endpoint)
    env = f.dict_(payload, "response")
    code_raw = f.key(env, "retCode", "envelope")
    try:
        code = int(code_raw)
    except (TypeError, ValueError):
        raise f.bad(f"retCode is not an integer: {code_raw!r}") from None
    if code != 0:
        raise _error_for(code, str(env.get("retMsg", "")), endpoint)
    return f, f.dict_(env.get("result"), "result")


def parse_kline(payload: Any, *, now_ms: int, endpoint: str = KLINE) -> list[CandleRow]:
    """``result.list`` of ``[startTime, open, high, low, close, volume, turnover]``, newest first → oldest
    first; bars not yet closed at ``now_ms`` are dropped. No taker split on Bybit."""
    f, result = unwrap(payload, endpoint)
    out = []
    for i, row in enumerate(f.list_(result.get("list", []), "result.list")):
        row = f.list_(row, f"row {i}")
        if len(row) < 7:
            raise f.bad(f"row {i} has {len(row)} elements, expected 7: {row!r}")
        start = f.ms(row[0], f"row {i} startTime")
        o, h, lo, c = (
            f.req_num(row[k], f"row {i} {n}") for k, n in ((1, "open"), (2, "high"), (3, "low"), (4, "close"))
        )
        if h < lo:
            raise f.bad(f"row {i} high {h} < low {lo}")
        if start + BASE_BAR_MS > now_ms:
            continue  # still forming
        out.append(
            CandleRow(
                open_time_ms=start,
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=f.num(row[5], f"row {i} volume", allow_empty=True),
                taker_buy_volume=None,
                quote_volume=f.num(row[6], f"row {i} turnover", allow_empty=True),
            )
        )
    out.reverse()
    return out


def parse_open_interest(payload: Any, *, endpoint: str = OPEN_INTEREST) -> tuple[list[OpenInterestRow], str]:
    """``result.list`` of ``{openInterest, timestamp}`` (base coin for linear) → rows (oldest first) and
    ``nextPageCursor`` ("" at the end). ``oi_value`` is None: Bybit gives no USD value."""
    f, result = unwrap(payload, endpoint)
    out = []
    for i, item in enumerate(f.list_(result.get("list", []), "result.list")):
        item = f.dict_(item, f"row {i}")
        out.append(
            OpenInterestRow(
                time_ms=f.ms(f.key(item, "timestamp", f"row {i}"), f"row {i} timestamp"),
                oi_base=f.num(f.key(item, "openInterest", f"row {i}"), f"row {i} openInterest"),
                oi_value=None,
            )
        )
    out.sort(key=lambda r: r.time_ms)
    cursor = result.get("nextPageCursor") or ""
    return out, str(cursor)


def parse_funding(payload: Any, *, endpoint: str = FUNDING) -> list[FundingRow]:
    """``result.list`` of ``{symbol, fundingRate, fundingRateTimestamp}`` → oldest first."""
    f, result = unwrap(payload, endpoint)
    out = []
    for i, item in enumerate(f.list_(result.get("list", []), "result.list")):
        item = f.dict_(item, f"row {i}")
        out.append(
            FundingRow(
                time_ms=f.ms(f.key(item, "fundingRateTimestamp", f"row {i}"), f"row {i} fundingRateTimestamp"),
                rate=f.req_num(f.key(item, "fundingRate", f"row {i}"), f"row {i} fundingRate"),
                mark_price=None,
            )
        )
    out.sort(key=lambda r: r.time_ms)
    return out


# --------------------------------------------------------------------------- connector


class BybitConnector(BaseConnector):
    code = CODE
    history_limits_ms = {"candles": None, "open_interest": None, "funding": None}

    def __init__(
        self, http: HttpClient, *, now_ms: Callable[[], int] = wall_clock_ms, category: str = "linear"
    ) -> None:
        super().__init__(http, now_ms=now_ms)
        self.category = category

    def instrument(self, base: str, quote: str) -> str:
        return f"{base}{quote}".upper()

    def iter_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]:
        end_ms = self._clamp_end(end_ms)
        for ws, we in bar_windows(start_ms, end_ms, KLINE_LIMIT):
            now = self.now_ms()
            params = {
                "category": self.category,
                "symbol": symbol,
                "interval": "5",
                "start": ws,
                "end": we - 1,
                "limit": KLINE_LIMIT,
            }
            rows = self.http.get(KLINE, params, parse=partial(parse_kline, now_ms=now), costs={DEFAULT_BUCKET: 1})
            yield Page([r for r in rows if ws <= r.open_time_ms < we], we - start_ms)

    def iter_open_interest(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[OpenInterestRow]]:
        end_ms = self._clamp_end(end_ms)
        for ws, we in bar_windows(start_ms, end_ms, OI_LIMIT):
            cursor = ""
            for _ in range(MAX_CURSOR_PAGES):
                params: dict[str, Any] = {
                    "category": self.category,
                    "symbol": symbol,
                    "intervalTime": "5min",
                    "startTime": ws,
                    "endTime": we - 1,
                    "limit": OI_LIMIT,
                }
                if cursor:
                    params["cursor"] = cursor
                rows, cursor = self.http.get(
                    OPEN_INTEREST, params, parse=parse_open_interest, costs={DEFAULT_BUCKET: 1}
                )
                yield Page([r for r in rows if ws <= r.time_ms < we], we - start_ms)
                if not rows or not cursor:
                    break

    def iter_funding(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[FundingRow]]:
        """Backward paging on ``endTime`` (``startTime`` alone is an error, so both are always sent)."""
        cursor_end = end_ms - 1
        while cursor_end >= start_ms:
            params = {
                "category": self.category,
                "symbol": symbol,
                "startTime": start_ms,
                "endTime": cursor_end,
                "limit": FUNDING_LIMIT,
            }
            rows = self.http.get(FUNDING, params, parse=parse_funding, costs={DEFAULT_BUCKET: 1})
            kept = [r for r in rows if start_ms <= r.time_ms <= cursor_end]
            if not kept:
                yield Page([], end_ms - start_ms)
                return
            oldest = kept[0].time_ms
            done = len(rows) < FUNDING_LIMIT or oldest <= start_ms
            yield Page(kept, end_ms - start_ms if done else end_ms - oldest)
            if done:
                return
            cursor_end = oldest - 1
