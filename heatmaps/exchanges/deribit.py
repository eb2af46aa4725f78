"""Deribit perpetuals connector (API v2 over HTTP GET, ``https://www.deribit.com``, public methods).

Deribit's BTC-PERPETUAL and ETH-PERPETUAL are **inverse**: a contract is 10 USD (ETH: 1 USD) settled in the coin,
and the venue counts open interest in USD. Its USDC perpetuals (SOL_USDC-PERPETUAL, …) are linear and count it
in the coin. Per the API v2 documentation (docs.deribit.com):

- Every answer is JSON-RPC: ``{"jsonrpc": "2.0", "result": …}`` or ``{"error": {"code", "message", "data"}}``.
- ``public/get_tradingview_chart_data`` (instrument_name, start_timestamp, end_timestamp, resolution=5): columns
  ``ticks`` (bar open, ms), ``open``/``high``/``low``/``close``, ``volume`` in the **base currency** and ``cost``
  in the quote currency (USD), whatever the contract's kind.
- ``public/ticker``: ``open_interest`` ("for perpetual and inverse futures the amount is in USD units"; for
  linear ones in the coin), ``mark_price``, ``index_price``, ``current_funding``, ``funding_8h``, ``timestamp``.
- ``public/get_instrument``: ``instrument_type`` ``reversed`` (inverse) or ``linear``, ``settlement_period``,
  ``contract_size``; ``public/get_instruments`` (currency=any, kind=future) lists them.
- ``public/get_funding_rate_history``: hourly rows ``{timestamp, interest_1h, interest_8h, index_price, …}``;
  funding accrues continuously and ``interest_1h`` is what the hour ending at ``timestamp`` paid.
- Public methods: 20 requests per second sustained (credits).

Open interest of an inverse perpetual is stored as its USD value and, in the coin, that value at the mark price.
Forced liquidations show on Deribit as trades flagged ``liquidation``; the liquidation recorder reads them from
the public trades channel (``venue_liquidations.py``), with ``get_instrument`` telling USD amounts from coin ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from heatmaps.exchanges.base import (
    DAY_MS,
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
from heatmaps.exchanges.ratelimit import RateLimiter
from heatmaps.rows import BASE_BAR_MS, CandleRow, FundingRow, OpenInterestRow

CODE = "deribit"
DEFAULT_REST_URL = "https://www.deribit.com"
DEFAULT_WS_URL = "wss://www.deribit.com/ws/api/v2"

CHART = "/api/v2/public/get_tradingview_chart_data"
TICKER = "/api/v2/public/ticker"
INSTRUMENT = "/api/v2/public/get_instrument"
INSTRUMENTS = "/api/v2/public/get_instruments"
FUNDING = "/api/v2/public/get_funding_rate_history"

BARS_PER_PAGE = 1000
FUNDING_WINDOW_MS = 30 * DAY_MS  # 720 hourly rows a request
INVERSE_COINS = ("BTC", "ETH")  # the coins with an inverse (USD) perpetual

_RATE_CODES = {10028}  # too_many_requests
_UNKNOWN_CODES = {13020}  # not_found
_TRANSIENT_CODES = {10040, 10041, 10047, 11098, 13028, 13888}  # retry, settlement in progress, timed out, …


def _error_for(body: dict[str, Any], endpoint: str, status: int) -> ExchangeError:
    err = body.get("error") if isinstance(body.get("error"), dict) else {}
    assert isinstance(err, dict)
    code = err.get("code")
    data = err.get("data") if isinstance(err.get("data"), dict) else {}
    assert isinstance(data, dict)
    text = f"deribit {endpoint}: HTTP {status} code {code}: {err.get('message', '')} {data or ''}".rstrip()
    if code in _RATE_CODES or status == 429:
        return RateLimitedError(text, exchange=CODE, endpoint=endpoint, status=status)
    if code in _TRANSIENT_CODES or status >= 500:
        return TransientExchangeError(text, exchange=CODE, endpoint=endpoint, status=status)
    if code in _UNKNOWN_CODES or data.get("param") == "instrument_name":
        return UnknownSymbolError(text, exchange=CODE, endpoint=endpoint, status=status, code=str(code))
    return PermanentExchangeError(text, exchange=CODE, endpoint=endpoint, status=status, code=str(code))


def classify_error(status: int, body: Any, endpoint: str) -> ExchangeError | None:
    if isinstance(body, dict) and "error" in body:
        return _error_for(body, endpoint, status)
    return None


def make_http(base_url: str = DEFAULT_REST_URL, *, limiter: RateLimiter | None = None, **kwargs: Any) -> HttpClient:
    return HttpClient(CODE, base_url, limiter=limiter, classify_error=classify_error, **kwargs)


# --------------------------------------------------------------------------- payload parsers (pure)


def unwrap(payload: Any, endpoint: str) -> tuple[Fields, Any]:
    f = Fields(CODE, endpoint)
    env = f.dict_(payload, "response")
    if "error" in env:
        raise _error_for(env, endpoint, 200)
    return f, f.key(env, "result", "response")


def parse_chart(payload: Any, *, now_ms: int, endpoint: str = CHART) -> list[CandleRow]:
    """Parallel columns → closed CandleRows, oldest first; ``status`` "no_data" is an empty range."""
    f, result = unwrap(payload, endpoint)
    result = f.dict_(result, "result")
    if result.get("status") == "no_data":
        return []
    cols = {k: f.list_(f.key(result, k, "result"), k) for k in ("ticks", "open", "high", "low", "close")}
    volume = f.list_(result.get("volume", []), "volume")
    cost = f.list_(result.get("cost", []), "cost")
    n = len(cols["ticks"])
    if any(len(c) != n for c in cols.values()) or len(volume) not in (0, n) or len(cost) not in (0, n):
        raise f.bad(f"columns of different lengths: { ({k: len(c) for k, c in cols.items()}) }")
    out = []
    for i in range(n):
        t = f.ms(cols["ticks"][i], f"ticks[{i}]")
        o, h, lo, c = (f.req_num(cols[k][i], f"{k}[{i}]") for k in ("open", "high", "low", "close"))
        if h < lo:
            raise f.bad(f"bar {i} high {h} < low {lo}")
        if t + BASE_BAR_MS > now_ms:
            continue  # still forming
        out.append(
            CandleRow(
                open_time_ms=t,
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=f.num(volume[i], f"volume[{i}]", allow_empty=True) if volume else None,
                taker_buy_volume=None,
                quote_volume=f.num(cost[i], f"cost[{i}]", allow_empty=True) if cost else None,
            )
        )
    out.sort(key=lambda r: r.open_time_ms)
    return out


@dataclass(frozen=True, slots=True)
class DeribitInstrument:
    name: str
    inverse: bool  # instrument_type "reversed": USD contracts, open interest in USD
    perpetual: bool
    active: bool
    contract_size: float | None


def _instrument(f: Fields, item: Any, where: str) -> DeribitInstrument:
    item = f.dict_(item, where)
    kind = str(item.get("instrument_type") or item.get("future_type") or "")
    if kind not in ("reversed", "linear"):
        raise f.bad(f"{where}: instrument_type {kind!r} is neither reversed nor linear")
    return DeribitInstrument(
        name=str(f.key(item, "instrument_name", where)),
        inverse=kind == "reversed",
        perpetual=item.get("kind") == "future" and item.get("settlement_period") == "perpetual",
        active=bool(item.get("is_active", True)),
        contract_size=f.num(item.get("contract_size"), f"{where}.contract_size", allow_empty=True),
    )


def parse_instrument(payload: Any, *, endpoint: str = INSTRUMENT) -> DeribitInstrument:
    f, result = unwrap(payload, endpoint)
    return _instrument(f, result, "result")


def parse_instruments(payload: Any, *, endpoint: str = INSTRUMENTS) -> list[DeribitInstrument]:
    f, result = unwrap(payload, endpoint)
    out = []
    for i, item in enumerate(f.list_(result, "result")):
        if isinstance(item, dict) and item.get("kind") != "future":
            continue  # options and combos: not perpetuals, and typed differently
        out.append(_instrument(f, item, f"result[{i}]"))
    return out


@dataclass(frozen=True, slots=True)
class DeribitTicker:
    time_ms: int
    mark_price: float
    index_price: float | None
    open_interest: float | None  # USD for an inverse perpetual, the coin for a linear one
    current_funding: float | None
    funding_8h: float | None


def parse_ticker(payload: Any, *, endpoint: str = TICKER) -> DeribitTicker:
    f, result = unwrap(payload, endpoint)
    result = f.dict_(result, "result")
    return DeribitTicker(
        time_ms=f.ms(f.key(result, "timestamp", "result"), "timestamp"),
        mark_price=f.req_num(f.key(result, "mark_price", "result"), "mark_price"),
        index_price=f.num(result.get("index_price"), "index_price", allow_empty=True),
        open_interest=f.num(result.get("open_interest"), "open_interest", allow_empty=True),
        current_funding=f.num(result.get("current_funding"), "current_funding", allow_empty=True),
        funding_8h=f.num(result.get("funding_8h"), "funding_8h", allow_empty=True),
    )


def parse_funding_history(payload: Any, *, endpoint: str = FUNDING) -> list[FundingRow]:
    """Hourly ``{timestamp, interest_1h, …}`` → FundingRows of the hour's rate, oldest first."""
    f, result = unwrap(payload, endpoint)
    out = []
    for i, item in enumerate(f.list_(result, "result")):
        item = f.dict_(item, f"result[{i}]")
        out.append(
            FundingRow(
                time_ms=f.ms(f.key(item, "timestamp", f"result[{i}]"), f"result[{i}].timestamp"),
                rate=f.req_num(f.key(item, "interest_1h", f"result[{i}]"), f"result[{i}].interest_1h"),
                mark_price=None,
            )
        )
    out.sort(key=lambda r: r.time_ms)
    return out


def open_interest_row(at_ms: int, ticker: DeribitTicker, instrument: DeribitInstrument) -> OpenInterestRow | None:
    """An inverse perpetual's open interest is USD: that is its value, and in the coin it is that value at the
    mark price. A linear one's is in the coin, valued at the mark price."""
    if ticker.open_interest is None:
        return None
    if instrument.inverse:
        return OpenInterestRow(at_ms, ticker.open_interest / ticker.mark_price, ticker.open_interest)
    return OpenInterestRow(at_ms, ticker.open_interest, ticker.open_interest * ticker.mark_price)


# --------------------------------------------------------------------------- connector


class DeribitConnector(BaseConnector):
    code = CODE
    # Open interest: only the figure now (no history method).
    history_limits_ms = {"candles": None, "open_interest": BASE_BAR_MS, "funding": None}

    def __init__(self, http: HttpClient, *, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        super().__init__(http, now_ms=now_ms)
        self._instruments: dict[str, DeribitInstrument] = {}

    def instrument(self, base: str, quote: str) -> str:
        """BTC and ETH: the inverse BTC-PERPETUAL / ETH-PERPETUAL, the deepest; other coins: the linear USDC one."""
        base = base.upper()
        return f"{base}-PERPETUAL" if base in INVERSE_COINS else f"{base}_USDC-PERPETUAL"

    def fetch_instrument(self, symbol: str) -> DeribitInstrument:
        known = self._instruments.get(symbol)
        if known is None:
            known = self.http.get(INSTRUMENT, {"instrument_name": symbol}, parse=parse_instrument)
            if not known.perpetual:
                raise UnknownSymbolError(f"deribit: {symbol} is not a perpetual", exchange=CODE, endpoint=INSTRUMENT)
            self._instruments[symbol] = known
        return known

    def fetch_symbols(self) -> list[str]:
        listed = self.http.get(INSTRUMENTS, {"currency": "any", "kind": "future"}, parse=parse_instruments)
        return [i.name for i in listed if i.perpetual and i.active]

    def iter_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]:
        end_ms = self._clamp_end(end_ms)
        for ws, we in bar_windows(start_ms, end_ms, BARS_PER_PAGE):
            params = {"instrument_name": symbol, "start_timestamp": ws, "end_timestamp": we - 1, "resolution": "5"}
            rows = self.http.get(CHART, params, parse=partial(parse_chart, now_ms=self.now_ms()))
            yield Page([r for r in rows if ws <= r.open_time_ms < we], we - start_ms)

    def iter_open_interest(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[OpenInterestRow]]:
        """The open interest now (see ``open_interest_row``), stamped on the 5-minute boundary at or before the
        ticker's time; nothing when that is outside [start_ms, end_ms)."""
        if not start_ms <= align_down(self.now_ms()) < end_ms:
            yield Page([], end_ms - start_ms)
            return
        inst = self.fetch_instrument(symbol)
        ticker = self.http.get(TICKER, {"instrument_name": symbol}, parse=parse_ticker)
        row = open_interest_row(align_down(ticker.time_ms), ticker, inst)
        yield Page([row] if row is not None and start_ms <= row.time_ms < end_ms else [], end_ms - start_ms)

    def iter_funding(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[FundingRow]]:
        for ws, we in bar_windows(start_ms, end_ms, 1, step_ms=FUNDING_WINDOW_MS):
            params = {"instrument_name": symbol, "start_timestamp": ws, "end_timestamp": we - 1}
            rows = self.http.get(FUNDING, params, parse=parse_funding_history)
            yield Page([r for r in rows if ws <= r.time_ms < we], we - start_ms)

    def fetch_mark_price(self, symbol: str) -> MarkPrice:
        """Mark and index price and ``current_funding``; funding accrues continuously, so there is no next
        settlement time to give."""
        ticker = self.http.get(TICKER, {"instrument_name": symbol}, parse=parse_ticker)
        return MarkPrice(
            symbol=symbol,
            mark_price=ticker.mark_price,
            index_price=ticker.index_price,
            last_funding_rate=ticker.current_funding,
            next_funding_time_ms=None,
            time_ms=ticker.time_ms,
        )
