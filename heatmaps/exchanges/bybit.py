"""Bybit v5 linear-perpetual REST connector (``https://api.bybit.com``, public endpoints)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from heatmaps.exchanges.base import BaseConnector, Fields, Page, bar_windows, dedupe_sorted, wall_clock_ms
from heatmaps.exchanges.brackets import RiskBracket, RiskLimits
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
RISK_LIMIT = "/v5/market/risk-limit"
MARK_KLINE = "/v5/market/mark-price-kline"

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
    for i, raw in enumerate(f.list_(result.get("list", []), "result.list")):
        row, start, o, h, lo, c = f.candle(raw, i, expected=7)
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


def parse_risk_limit(payload: Any, *, symbol: str, endpoint: str = RISK_LIMIT) -> tuple[list[RiskBracket], str]:
    """``result.list`` of ``{id, symbol, riskLimitValue, maintenanceMargin, initialMargin, isLowestRisk,
    maxLeverage}`` → ``symbol``'s brackets (other symbols of a page are skipped) and ``nextPageCursor``.

    ``riskLimitValue`` is the bracket's position value cap in the settlement coin (USDT for linear, taken
    as USD). Margins are rates ("0.005") in the answers the API gives; the documentation's own example
    writes them in percent ("0.5" with "initialMargin": "1" at 100x), so the unit is read off the bracket
    itself: an initial margin of about 100 / maxLeverage is percent, about 1 / maxLeverage a rate."""
    f, result = unwrap(payload, endpoint)
    out = []
    for i, item in enumerate(f.list_(result.get("list", []), "result.list")):
        item = f.dict_(item, f"row {i}")
        if str(f.key(item, "symbol", f"row {i}")) != symbol:
            continue
        cap = f.req_num(f.key(item, "riskLimitValue", f"row {i}"), f"row {i} riskLimitValue")
        mm = f.req_num(f.key(item, "maintenanceMargin", f"row {i}"), f"row {i} maintenanceMargin")
        im = f.num(item.get("initialMargin"), f"row {i} initialMargin", allow_empty=True)
        lev = f.req_num(f.key(item, "maxLeverage", f"row {i}"), f"row {i} maxLeverage")
        if lev < 1:
            raise f.bad(f"row {i} maxLeverage {lev} is below 1")
        if im is not None and abs(im * lev - 100) < abs(im * lev - 1):
            mm /= 100  # percent, as in the documentation's example
        if not 0 < mm < 1:
            raise f.bad(f"row {i} maintenanceMargin {mm} is not a rate in (0, 1)")
        out.append(RiskBracket(max_notional_usd=cap, max_leverage=lev, mmr=mm))
    out.sort(key=lambda b: b.max_notional_usd or 0.0)
    cursor = result.get("nextPageCursor") or ""
    return out, str(cursor)


def parse_mark_kline(payload: Any, *, now_ms: int, endpoint: str = MARK_KLINE) -> list[CandleRow]:
    """``result.list`` of ``[startTime, open, high, low, close]``, newest first → closed mark-price bars,
    oldest first, as CandleRows without volumes."""
    f, result = unwrap(payload, endpoint)
    out = []
    for i, raw in enumerate(f.list_(result.get("list", []), "result.list")):
        _, start, o, h, lo, c = f.candle(raw, i, expected=5)
        if start + BASE_BAR_MS > now_ms:
            continue  # still forming
        out.append(CandleRow(start, o, h, lo, c, None, None, None))
    out.sort(key=lambda r: r.open_time_ms)
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

    def fetch_risk_limits(self, symbol: str) -> RiskLimits:
        """The instrument's risk-limit brackets, smallest first (cursor-paged, though one symbol fits a page)."""
        brackets: list[RiskBracket] = []
        cursor = ""
        for _ in range(MAX_CURSOR_PAGES):
            params: dict[str, Any] = {"category": self.category, "symbol": symbol}
            if cursor:
                params["cursor"] = cursor
            page, cursor = self.http.get(
                RISK_LIMIT, params, parse=partial(parse_risk_limit, symbol=symbol), costs={DEFAULT_BUCKET: 1}
            )
            brackets.extend(page)
            if not cursor:
                break
        if not brackets:
            raise UnknownSymbolError(
                f"bybit {RISK_LIMIT}: no risk limits for {symbol}", exchange=CODE, endpoint=RISK_LIMIT
            )
        brackets.sort(key=lambda b: b.max_notional_usd or 0.0)
        return RiskLimits(symbol, tuple(brackets))

    def iter_mark_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]:
        """5-minute mark-price bars, windowed like the last-price klines."""
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
            rows = self.http.get(
                MARK_KLINE, params, parse=partial(parse_mark_kline, now_ms=now), costs={DEFAULT_BUCKET: 1}
            )
            yield Page([r for r in rows if ws <= r.open_time_ms < we], we - start_ms)

    def fetch_mark_candles(self, symbol: str, start_ms: int, end_ms: int) -> list[CandleRow]:
        rows = [r for page in self.iter_mark_candles(symbol, start_ms, end_ms) for r in page.rows]
        return dedupe_sorted((r for r in rows if start_ms <= r.open_time_ms < end_ms), lambda r: r.open_time_ms)
