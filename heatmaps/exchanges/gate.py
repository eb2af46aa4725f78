"""Gate USDT-settled perpetuals connector (API v4, ``https://api.gateio.ws``, public endpoints).

Per Gate's API v4 documentation (gate.com/docs/developers/apiv4, *Futures*):

- Every time is Unix **seconds**, not milliseconds; they are converted here and checked like any other time.
- ``/api/v4/futures/usdt/candlesticks`` (contract, interval, from, to): ``[{t, o, h, l, c, v, sum}]``, ``t`` the open
  time, ``v`` the volume in **contracts**, ``sum`` the volume in USDT; "maximum of 2000 points are returned in
  one query".
- ``/futures/usdt/contract_stats`` (contract, from, interval, limit): 5-minute statistics with
  ``open_interest`` in contracts and ``open_interest_usd`` in USDT: open-interest history.
- ``/futures/usdt/funding_rate`` (contract, from, to, limit): ``[{t, r}]``, the settled rate of each interval.
- ``/futures/usdt/contracts/{contract}``: the contract's ``quanto_multiplier`` (base coin per contract) and
  its mark and index price, current funding rate and ``funding_next_apply``; ``/futures/usdt/contracts``
  lists them all.
- Public futures endpoints: 200 requests per 10 seconds per IP each.

Quantities in contracts become base coin through ``quanto_multiplier``, read from the contract itself.

Forced liquidations are left out: Gate's websocket feed (``futures.public_liquidates``) reports the size *left*
of the liquidated position, not the size that was liquidated, so the liquidated volume cannot be read from it
without the position's size before. ``/futures/usdt/liq_orders`` (public, at most an hour a request) documents
``order_size``, the liquidation order's size, beside ``size`` (the position) and ``left``; it is not read yet
(``venue_liquidations.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from heatmaps.exchanges.base import BaseConnector, Fields, MarkPrice, Page, bar_windows, wall_clock_ms
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

CODE = "gate"
DEFAULT_REST_URL = "https://api.gateio.ws"
DEFAULT_WS_URL = "wss://fx-ws.gateio.ws/v4/ws/usdt"

CANDLES = "/api/v4/futures/usdt/candlesticks"
CONTRACT_STATS = "/api/v4/futures/usdt/contract_stats"
FUNDING = "/api/v4/futures/usdt/funding_rate"
CONTRACTS = "/api/v4/futures/usdt/contracts"

CANDLES_PER_PAGE = 1000  # under the documented 2000 points per query
STATS_LIMIT = 100
FUNDING_LIMIT = 100
HOUR_MS = 3_600_000
# Funding settles at most hourly, so a window this long holds fewer rows than one page.
FUNDING_WINDOW_MS = (FUNDING_LIMIT - 4) * HOUR_MS
MAX_PAGES = 100_000

_UNKNOWN_LABELS = {"CONTRACT_NOT_FOUND", "INVALID_CONTRACT"}
_RATE_LABELS = {"TOO_MANY_REQUESTS"}
_TRANSIENT_LABELS = {"SERVER_ERROR", "INTERNAL"}


def classify_error(status: int, body: Any, endpoint: str) -> ExchangeError | None:
    """Gate errors are ``{"label": "CONTRACT_NOT_FOUND", "message": "…"}``."""
    if not isinstance(body, dict) or "label" not in body:
        return None
    label = str(body["label"])
    text = f"gate {endpoint}: HTTP {status} {label}: {body.get('message', '')}"
    if label in _RATE_LABELS:
        return RateLimitedError(text, exchange=CODE, endpoint=endpoint, status=status)
    if label in _TRANSIENT_LABELS or status >= 500:
        return TransientExchangeError(text, exchange=CODE, endpoint=endpoint, status=status)
    if label in _UNKNOWN_LABELS:
        return UnknownSymbolError(text, exchange=CODE, endpoint=endpoint, status=status, code=label)
    return PermanentExchangeError(text, exchange=CODE, endpoint=endpoint, status=status, code=label)


def make_http(base_url: str = DEFAULT_REST_URL, *, limiter: RateLimiter | None = None, **kwargs: Any) -> HttpClient:
    return HttpClient(CODE, base_url, limiter=limiter, classify_error=classify_error, **kwargs)


# --------------------------------------------------------------------------- payload parsers (pure)


def seconds_ms(f: Fields, value: Any, what: str) -> int:
    """A Gate time (integral Unix seconds, as a number or a digit string) → checked epoch milliseconds."""
    if isinstance(value, bool):
        raise f.bad(f"{what} is a boolean: {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise f.bad(f"{what} is not an integer second time: {value!r}")
    if value >= 100_000_000_000:
        raise f.bad(f"{what} {value!r} is in milliseconds, not the documented seconds")
    return f.ms(value * 1000, what)


@dataclass(frozen=True, slots=True)
class GateContract:
    """One contract of ``/futures/usdt/contracts``."""

    name: str  # e.g. BTC_USDT
    multiplier: float  # quanto_multiplier: base coin per contract
    mark_price: float | None
    index_price: float | None
    funding_rate: float | None  # the rate of the running interval
    funding_next_apply_ms: int | None
    delisting: bool


def _contract(f: Fields, item: Any, where: str) -> GateContract:
    item = f.dict_(item, where)
    name = str(f.key(item, "name", where))
    multiplier = f.req_num(f.key(item, "quanto_multiplier", where), f"{where}.quanto_multiplier")
    if multiplier <= 0:
        raise f.bad(f"{where} {name}: quanto_multiplier {multiplier} is not positive")
    next_apply = item.get("funding_next_apply")
    return GateContract(
        name=name,
        multiplier=multiplier,
        mark_price=f.num(item.get("mark_price"), f"{where}.mark_price", allow_empty=True),
        index_price=f.num(item.get("index_price"), f"{where}.index_price", allow_empty=True),
        funding_rate=f.num(item.get("funding_rate"), f"{where}.funding_rate", allow_empty=True),
        funding_next_apply_ms=seconds_ms(f, next_apply, f"{where}.funding_next_apply") if next_apply else None,
        delisting=bool(item.get("in_delisting")),
    )


def parse_contract(payload: Any, *, endpoint: str = CONTRACTS) -> GateContract:
    return _contract(Fields(CODE, endpoint), payload, "response")


def parse_contracts(payload: Any, *, endpoint: str = CONTRACTS) -> list[GateContract]:
    f = Fields(CODE, endpoint)
    return [_contract(f, item, f"row {i}") for i, item in enumerate(f.list_(payload, "response"))]


def parse_candlesticks(payload: Any, *, now_ms: int, multiplier: float, endpoint: str = CANDLES) -> list[CandleRow]:
    """``[{t, o, h, l, c, v, sum}]`` → closed candles, oldest first: ``v`` contracts × ``multiplier`` is the
    base volume, ``sum`` the USDT volume; a bar not closed at ``now_ms`` is dropped."""
    f = Fields(CODE, endpoint)
    out = []
    for i, item in enumerate(f.list_(payload, "response")):
        item = f.dict_(item, f"row {i}")
        t = seconds_ms(f, f.key(item, "t", f"row {i}"), f"row {i} t")
        o, h, lo, c = (f.req_num(f.key(item, k, f"row {i}"), f"row {i} {k}") for k in ("o", "h", "l", "c"))
        if h < lo:
            raise f.bad(f"row {i} high {h} < low {lo}")
        if t + BASE_BAR_MS > now_ms:
            continue  # still forming
        contracts = f.num(item.get("v"), f"row {i} v", allow_empty=True)
        out.append(
            CandleRow(
                open_time_ms=t,
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=None if contracts is None else contracts * multiplier,
                taker_buy_volume=None,
                quote_volume=f.num(item.get("sum"), f"row {i} sum", allow_empty=True),
            )
        )
    out.sort(key=lambda r: r.open_time_ms)
    return out


def parse_contract_stats(payload: Any, *, multiplier: float, endpoint: str = CONTRACT_STATS) -> list[OpenInterestRow]:
    """``[{time, open_interest (contracts), open_interest_usd, …}]`` → OpenInterestRows in base coin and USDT."""
    f = Fields(CODE, endpoint)
    out = []
    for i, item in enumerate(f.list_(payload, "response")):
        item = f.dict_(item, f"row {i}")
        contracts = f.req_num(f.key(item, "open_interest", f"row {i}"), f"row {i} open_interest")
        out.append(
            OpenInterestRow(
                time_ms=seconds_ms(f, f.key(item, "time", f"row {i}"), f"row {i} time"),
                oi_base=contracts * multiplier,
                oi_value=f.num(item.get("open_interest_usd"), f"row {i} open_interest_usd", allow_empty=True),
            )
        )
    out.sort(key=lambda r: r.time_ms)
    return out


def parse_funding_rate(payload: Any, *, endpoint: str = FUNDING) -> list[FundingRow]:
    """``[{t, r}]`` → FundingRows, oldest first."""
    f = Fields(CODE, endpoint)
    out = []
    for i, item in enumerate(f.list_(payload, "response")):
        item = f.dict_(item, f"row {i}")
        out.append(
            FundingRow(
                time_ms=seconds_ms(f, f.key(item, "t", f"row {i}"), f"row {i} t"),
                rate=f.req_num(f.key(item, "r", f"row {i}"), f"row {i} r"),
                mark_price=None,
            )
        )
    out.sort(key=lambda r: r.time_ms)
    return out


# --------------------------------------------------------------------------- connector


class GateConnector(BaseConnector):
    code = CODE
    history_limits_ms = {"candles": None, "open_interest": None, "funding": None}

    def __init__(self, http: HttpClient, *, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        super().__init__(http, now_ms=now_ms)
        self._contracts: dict[str, GateContract] = {}

    def instrument(self, base: str, quote: str) -> str:
        return f"{base}_{quote}".upper()

    def fetch_contract(self, symbol: str) -> GateContract:
        contract = self.http.get(f"{CONTRACTS}/{symbol}", parse=parse_contract, endpoint=CONTRACTS)
        self._contracts[symbol] = contract
        return contract

    def _multiplier(self, symbol: str) -> float:
        """Base coin per contract; read once per connector (it does not change while a contract trades)."""
        known = self._contracts.get(symbol)
        return (known or self.fetch_contract(symbol)).multiplier

    def fetch_symbols(self) -> list[str]:
        return [c.name for c in self.http.get(CONTRACTS, parse=parse_contracts) if not c.delisting]

    def iter_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]:
        end_ms = self._clamp_end(end_ms)
        multiplier = self._multiplier(symbol)
        for ws, we in bar_windows(start_ms, end_ms, CANDLES_PER_PAGE):
            params = {"contract": symbol, "interval": "5m", "from": ws // 1000, "to": (we - 1) // 1000}
            parse = partial(parse_candlesticks, now_ms=self.now_ms(), multiplier=multiplier)
            rows = self.http.get(CANDLES, params, parse=parse, costs={DEFAULT_BUCKET: 1})
            yield Page([r for r in rows if ws <= r.open_time_ms < we], we - start_ms)

    def iter_open_interest(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[OpenInterestRow]]:
        """Forward from ``from``: each page goes on after its newest row, so a server cap below ``limit``
        still walks the whole range."""
        end_ms = self._clamp_end(end_ms)
        multiplier = self._multiplier(symbol)
        cursor = start_ms
        for _ in range(MAX_PAGES):
            if cursor >= end_ms:
                return
            params = {"contract": symbol, "interval": "5m", "from": -(-cursor // 1000), "limit": STATS_LIMIT}
            rows = self.http.get(CONTRACT_STATS, params, parse=partial(parse_contract_stats, multiplier=multiplier))
            kept = [r for r in rows if cursor <= r.time_ms < end_ms]
            if not kept:
                yield Page([], end_ms - start_ms)
                return
            newest = kept[-1].time_ms
            past_end = any(r.time_ms >= end_ms for r in rows)  # the page reached beyond the range: done
            yield Page(kept, end_ms - start_ms if past_end else min(end_ms, newest + 1) - start_ms)
            if past_end:
                return
            cursor = newest + 1

    def iter_funding(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[FundingRow]]:
        """Windows shorter than one page of hourly settlements, so each answer is the window whole."""
        for ws, we in bar_windows(start_ms, end_ms, 1, step_ms=FUNDING_WINDOW_MS):
            params = {"contract": symbol, "from": -(-ws // 1000), "to": (we - 1) // 1000, "limit": FUNDING_LIMIT}
            rows = self.http.get(FUNDING, params, parse=parse_funding_rate)
            yield Page([r for r in rows if ws <= r.time_ms < we], we - start_ms)

    def fetch_mark_price(self, symbol: str) -> MarkPrice:
        """Mark and index price, the running interval's funding rate and when it applies; the answer has no
        time of its own, so it is stamped with the time it was read."""
        contract = self.fetch_contract(symbol)
        if contract.mark_price is None:
            raise Fields(CODE, CONTRACTS).bad(f"{symbol}: no mark_price")
        return MarkPrice(
            symbol=symbol,
            mark_price=contract.mark_price,
            index_price=contract.index_price,
            last_funding_rate=contract.funding_rate,
            next_funding_time_ms=contract.funding_next_apply_ms,
            time_ms=self.now_ms(),
        )
