"""OKX v5 perpetual-swap REST connector (``https://www.okx.com``, public endpoints).

OKX lists are newest first and page with ``after`` (records older than the cursor) / ``before`` (newer).
Formats per ccxt 4.5.90 and SDK docstrings (the official pages were not retrievable; see the format doc).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from heatmaps.exchanges.base import BaseConnector, Fields, Page, dedupe_sorted, wall_clock_ms
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

CODE = "okx"
DEFAULT_REST_URL = "https://www.okx.com"
DEFAULT_WS_URL = "wss://ws.okx.com:8443/ws/v5/public"

HISTORY_CANDLES = "/api/v5/market/history-candles"
OI_HISTORY = "/api/v5/rubik/stat/contracts/open-interest-history"
FUNDING = "/api/v5/public/funding-rate-history"
INSTRUMENTS = "/api/v5/public/instruments"
POSITION_TIERS = "/api/v5/public/position-tiers"
HISTORY_MARK_CANDLES = "/api/v5/market/history-mark-price-candles"

CANDLES_LIMIT = 100  # history-candles maximum
OI_LIMIT = 100
FUNDING_LIMIT = 100  # ccxt paginates at 100 (docs have said 400; unverified)
MAX_PAGES = 100_000

_RATE_CODES = {"50011", "50061"}
_TRANSIENT_CODES = {"50001", "50004", "50013", "50026"}
_UNKNOWN_SYMBOL_CODES = {"51001"}


def _error_for(code: str, msg: str, endpoint: str, status: int = 200) -> ExchangeError:
    text = f"okx {endpoint}: code {code}: {msg}"
    if code in _RATE_CODES:
        return RateLimitedError(text, exchange=CODE, endpoint=endpoint, status=status)
    if code in _TRANSIENT_CODES or status >= 500:
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


def unwrap(payload: Any, endpoint: str) -> tuple[Fields, list[Any]]:
    """Check ``{"code": "0", "msg": "", "data": [...]}`` and return ``data``."""
    f = Fields(CODE, endpoint)
    env = f.dict_(payload, "response")
    code = str(f.key(env, "code", "envelope"))
    if code != "0":
        raise _error_for(code, str(env.get("msg", "")), endpoint)
    return f, f.list_(env.get("data"), "data")


def parse_candles(payload: Any, *, now_ms: int, endpoint: str = HISTORY_CANDLES) -> list[CandleRow]:
    """Rows ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]``, newest first → closed candles, oldest
    first. ``confirm`` "0" (still forming) is dropped, and so is any bar not closed at ``now_ms``."""
    f, data = unwrap(payload, endpoint)
    out = []
    for i, raw in enumerate(data):
        row, ts, o, h, lo, c = f.candle(raw, i, expected=7, time_name="ts")
        confirm = str(row[8]) if len(row) > 8 else None
        if confirm == "0" or ts + BASE_BAR_MS > now_ms:
            continue
        out.append(
            CandleRow(
                open_time_ms=ts,
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=f.num(row[6], f"row {i} volCcy", allow_empty=True),
                taker_buy_volume=None,
                quote_volume=f.num(row[7], f"row {i} volCcyQuote", allow_empty=True) if len(row) > 7 else None,
            )
        )
    out.sort(key=lambda r: r.open_time_ms)
    return out


def parse_open_interest_history(payload: Any, *, endpoint: str = OI_HISTORY) -> list[OpenInterestRow]:
    """Rows ``[ts, oi(contracts), oiCcy(base), oiUsd]``, newest first → oldest first."""
    f, data = unwrap(payload, endpoint)
    out = []
    for i, row in enumerate(data):
        row = f.list_(row, f"row {i}")
        if len(row) < 4:
            raise f.bad(f"row {i} has {len(row)} elements, expected 4: {row!r}")
        out.append(
            OpenInterestRow(
                time_ms=f.ms(row[0], f"row {i} ts"),
                oi_base=f.num(row[2], f"row {i} oiCcy", allow_empty=True),
                oi_value=f.num(row[3], f"row {i} oiUsd", allow_empty=True),
            )
        )
    out.sort(key=lambda r: r.time_ms)
    return out


def parse_funding(payload: Any, *, endpoint: str = FUNDING) -> list[FundingRow]:
    """Rows ``{instId, fundingRate, realizedRate, fundingTime, …}`` → oldest first, at the *realised* rate.

    OKX documents ``fundingRate`` in this answer as the "Predicted funding rate" and ``realizedRate`` as the
    "Actual funding rate": what was settled at ``fundingTime`` is ``realizedRate``. A row without one (not
    settled) is left out rather than stored at the prediction."""
    f, data = unwrap(payload, endpoint)
    out = []
    for i, item in enumerate(data):
        item = f.dict_(item, f"row {i}")
        rate = f.num(f.key(item, "realizedRate", f"row {i}"), f"row {i} realizedRate", allow_empty=True)
        if rate is None:
            continue
        out.append(
            FundingRow(
                time_ms=f.ms(f.key(item, "fundingTime", f"row {i}"), f"row {i} fundingTime"),
                rate=rate,
                mark_price=None,
            )
        )
    out.sort(key=lambda r: r.time_ms)
    return out


def parse_position_tiers(
    payload: Any, *, family: str, contract_size: float, price: float | None, endpoint: str = POSITION_TIERS
) -> list[RiskBracket]:
    """Rows ``{instFamily, tier, minSz, maxSz, mmr, imr, maxLever, …}`` → the family's brackets by tier.

    ``maxSz`` is in contracts for swaps: × ``contract_size`` (the instrument's ``ctVal``) gives the base coin,
    × ``price`` the USD cap (None without a price). Rows of another family are skipped."""
    f, data = unwrap(payload, endpoint)
    tiers = []
    for i, item in enumerate(data):
        item = f.dict_(item, f"row {i}")
        if str(item.get("instFamily") or family) != family:
            continue
        tier = f.req_num(f.key(item, "tier", f"row {i}"), f"row {i} tier")
        max_sz = f.num(item.get("maxSz"), f"row {i} maxSz", allow_empty=True)
        mmr = f.req_num(f.key(item, "mmr", f"row {i}"), f"row {i} mmr")
        lev = f.req_num(f.key(item, "maxLever", f"row {i}"), f"row {i} maxLever")
        if lev < 1:
            raise f.bad(f"row {i} maxLever {lev} is below 1")
        if not 0 < mmr < 1:
            raise f.bad(f"row {i} mmr {mmr} is not a rate in (0, 1)")
        base = None if max_sz is None else max_sz * contract_size
        usd = None if base is None or price is None else base * price
        tiers.append((tier, RiskBracket(max_notional_usd=usd, max_leverage=lev, mmr=mmr, max_size_base=base)))
    tiers.sort(key=lambda t: t[0])
    return [b for _t, b in tiers]


def parse_mark_candles(payload: Any, *, now_ms: int, endpoint: str = HISTORY_MARK_CANDLES) -> list[CandleRow]:
    """Rows ``[ts, o, h, l, c, confirm]``, newest first → closed mark-price bars, oldest first, as CandleRows
    without volumes (``confirm`` "0" and bars not closed at ``now_ms`` are dropped)."""
    f, data = unwrap(payload, endpoint)
    out = []
    for i, raw in enumerate(data):
        row, ts, o, h, lo, c = f.candle(raw, i, expected=5, time_name="ts")
        confirm = str(row[5]) if len(row) > 5 else None
        if confirm == "0" or ts + BASE_BAR_MS > now_ms:
            continue
        out.append(CandleRow(ts, o, h, lo, c, None, None, None))
    out.sort(key=lambda r: r.open_time_ms)
    return out


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """One swap of ``/api/v5/public/instruments``: how many base units one contract is (``ctVal``)."""

    instrument: str  # instId, e.g. BTC-USDT-SWAP
    contract_size: float  # base units per contract
    settle: str  # settleCcy, e.g. USDT


def parse_instruments(payload: Any, *, endpoint: str = INSTRUMENTS) -> list[ContractSpec]:
    """Linear swaps of ``instType=SWAP`` with their ``ctVal`` × ``ctMult`` in base units.

    Inverse swaps (``ctType`` inverse, e.g. BTC-USD-SWAP) are left out: their ``ctVal`` is in USD, so a
    contract is no fixed amount of the base coin. Instruments still being listed (``preopen`` with an
    empty ``ctVal``) are left out too; the next refresh picks them up."""
    f, data = unwrap(payload, endpoint)
    out = []
    for i, item in enumerate(data):
        item = f.dict_(item, f"row {i}")
        inst = str(f.key(item, "instId", f"row {i}"))
        if str(item.get("ctType", "")) != "linear":
            continue
        ct_val = f.num(item.get("ctVal"), f"row {i} ctVal", allow_empty=True)
        if ct_val is None:
            continue
        ct_mult = f.num(item.get("ctMult"), f"row {i} ctMult", allow_empty=True) or 1.0
        base = inst.split("-", 1)[0]
        if str(item.get("ctValCcy", base)) != base:
            raise f.bad(f"row {i} {inst}: ctValCcy {item.get('ctValCcy')!r} is not the base coin {base!r}")
        if ct_val * ct_mult <= 0:
            raise f.bad(f"row {i} {inst}: contract size {ct_val} x {ct_mult} is not positive")
        out.append(ContractSpec(inst, ct_val * ct_mult, str(item.get("settleCcy", ""))))
    return out


# --------------------------------------------------------------------------- connector


class OkxConnector(BaseConnector):
    code = CODE
    # The rubik OI-history depth is not documented in our references: None = unknown.
    history_limits_ms = {"candles": None, "open_interest": None, "funding": None}

    def __init__(self, http: HttpClient, *, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        super().__init__(http, now_ms=now_ms)

    def instrument(self, base: str, quote: str) -> str:
        return f"{base}-{quote}-SWAP".upper()

    def fetch_instruments(self) -> list[ContractSpec]:
        """Contract sizes of every linear swap (one request: the endpoint is not paged)."""
        return self.http.get(INSTRUMENTS, {"instType": "SWAP"}, parse=parse_instruments, costs={"instruments": 1})

    def iter_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]:
        """Backward paging with ``after`` (exclusive: ts < after), starting at ``end_ms``."""
        return self._iter_candle_pages(
            HISTORY_CANDLES, _parse_candle_page, {"history-candles": 1}, symbol, start_ms, end_ms
        )

    def _iter_candle_pages(
        self,
        path: str,
        parse: Callable[..., tuple[tuple[int | None, int], list[CandleRow]]],
        costs: dict[str, int],
        symbol: str,
        start_ms: int,
        end_ms: int,
    ) -> Iterator[Page[CandleRow]]:
        """Pages of a candles-shaped endpoint (candles, mark-price candles), backwards with ``after``."""
        after = self._clamp_end(end_ms)
        for _ in range(MAX_PAGES):
            now = self.now_ms()
            params = {"instId": symbol, "bar": "5m", "after": after, "limit": CANDLES_LIMIT}
            # Raw rows: the oldest ts is the next cursor even when a forming candle was dropped.
            (raw, count), rows = self.http.get(path, params, parse=partial(parse, now_ms=now), costs=costs)
            kept = [r for r in rows if start_ms <= r.open_time_ms < end_ms and r.open_time_ms < after]
            if raw is None or raw >= after:
                yield Page(kept, end_ms - start_ms)
                return
            done = raw <= start_ms or count < CANDLES_LIMIT
            yield Page(kept, end_ms - start_ms if done else end_ms - raw)
            if done:
                return
            after = raw

    def iter_open_interest(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[OpenInterestRow]]:
        """Backward paging with ``end`` = the oldest ts seen (bounds documented as exclusive; rows at the
        bound are filtered and deduped either way)."""
        end = self._clamp_end(end_ms)
        for _ in range(MAX_PAGES):
            params = {
                "instId": symbol,
                "period": "5m",
                "begin": start_ms - 1,
                "end": end,
                "limit": OI_LIMIT,
            }
            rows = self.http.get(
                OI_HISTORY, params, parse=parse_open_interest_history, costs={"open-interest-history": 1}
            )
            kept = [r for r in rows if start_ms <= r.time_ms < end_ms and r.time_ms < end]
            if not kept:
                yield Page([], end_ms - start_ms)
                return
            oldest = kept[0].time_ms
            done = oldest <= start_ms or len(rows) < OI_LIMIT
            yield Page(kept, end_ms - start_ms if done else end_ms - oldest)
            if done:
                return
            end = oldest

    def iter_funding(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[FundingRow]]:
        """Backward paging with ``after`` (fundingTime < after)."""
        after = end_ms
        for _ in range(MAX_PAGES):
            params = {"instId": symbol, "after": after, "limit": FUNDING_LIMIT}
            rows = self.http.get(FUNDING, params, parse=parse_funding, costs={"funding-rate-history": 1})
            fresh = [r for r in rows if r.time_ms < after]
            kept = [r for r in fresh if start_ms <= r.time_ms < end_ms]
            if not fresh:
                yield Page([], end_ms - start_ms)
                return
            oldest = fresh[0].time_ms
            done = oldest <= start_ms or len(rows) < FUNDING_LIMIT
            yield Page(kept, end_ms - start_ms if done else end_ms - oldest)
            if done:
                return
            after = oldest

    def fetch_risk_limits(
        self, symbol: str, *, contract_size: float | None = None, price: float | None = None
    ) -> RiskLimits:
        """The swap's position tiers in cross margin, smallest first; sizes converted with ``contract_size``
        (asked of the instruments endpoint when not given) and ``price`` (USD caps are None without one)."""
        if contract_size is None:
            sizes = {spec.instrument: spec.contract_size for spec in self.fetch_instruments()}
            if symbol not in sizes:
                raise UnknownSymbolError(
                    f"okx {INSTRUMENTS}: {symbol} is not a listed linear swap", exchange=CODE, endpoint=INSTRUMENTS
                )
            contract_size = sizes[symbol]
        family = symbol.removesuffix("-SWAP")
        params = {"instType": "SWAP", "tdMode": "cross", "instFamily": family}
        parse = partial(parse_position_tiers, family=family, contract_size=contract_size, price=price)
        # 10 requests per 2 s documented: the default bucket (8 per 2 s) stays under it.
        brackets = self.http.get(POSITION_TIERS, params, parse=parse, costs={DEFAULT_BUCKET: 1})
        if not brackets:
            raise UnknownSymbolError(
                f"okx {POSITION_TIERS}: no tiers for {family}", exchange=CODE, endpoint=POSITION_TIERS
            )
        return RiskLimits(symbol, tuple(brackets))

    def iter_mark_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]:
        """5-minute mark-price bars, paged backwards with ``after`` like the last-price candles. 10 requests
        per 2 s documented: the default bucket (8 per 2 s) stays under it."""
        return self._iter_candle_pages(
            HISTORY_MARK_CANDLES, _parse_mark_candle_page, {DEFAULT_BUCKET: 1}, symbol, start_ms, end_ms
        )

    def fetch_mark_candles(self, symbol: str, start_ms: int, end_ms: int) -> list[CandleRow]:
        rows = [r for page in self.iter_mark_candles(symbol, start_ms, end_ms) for r in page.rows]
        return dedupe_sorted((r for r in rows if start_ms <= r.open_time_ms < end_ms), lambda r: r.open_time_ms)


def _oldest_ts(payload: Any, endpoint: str) -> tuple[int | None, int]:
    """(oldest row ts, forming or not — None for an empty page; number of rows) of a candles payload."""
    f, data = unwrap(payload, endpoint)
    times = [f.ms(f.list_(row, f"row {i}")[0], f"row {i} ts") for i, row in enumerate(data) if row]
    return min(times, default=None), len(data)


def _parse_candle_page(payload: Any, *, now_ms: int) -> tuple[tuple[int | None, int], list[CandleRow]]:
    return _oldest_ts(payload, HISTORY_CANDLES), parse_candles(payload, now_ms=now_ms)


def _parse_mark_candle_page(payload: Any, *, now_ms: int) -> tuple[tuple[int | None, int], list[CandleRow]]:
    return _oldest_ts(payload, HISTORY_MARK_CANDLES), parse_mark_candles(payload, now_ms=now_ms)
