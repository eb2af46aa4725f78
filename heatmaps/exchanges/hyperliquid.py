"""Hyperliquid perpetuals connector (``https://api.hyperliquid.xyz``): every query is a POST to ``/info``.

Per the info-endpoint documentation (hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/info-endpoint):

- ``candleSnapshot`` ({coin, interval, startTime, endTime}) answers candles ``{t, T, s, i, o, c, h, l, v, n}``:
  ``t`` the open and ``T`` the close time in ms, prices as strings, ``v`` the volume in the coin. "Only the most
  recent 5000 candles are available."
- ``metaAndAssetCtxs`` answers ``[meta, ctxs]``: ``meta.universe[i]`` names the i-th perpetual (``name`` is the
  coin, e.g. "BTC"; ``szDecimals``; ``isDelisted``) and ``ctxs[i]`` its state now: ``markPx``, ``oraclePx``,
  ``funding`` (the current hourly rate), ``openInterest`` in the coin. There is no open-interest history.
- ``fundingHistory`` ({coin, startTime, endTime}) answers ``[{coin, fundingRate, premium, time}]`` oldest first;
  funding settles every hour, so each row is one hour's rate.
- "Responses that take a time range will only return 500 elements"; page on from the last returned time.
- Weights (1 200 per minute per IP): 20 for most info requests, plus 1 per 60 candles and 1 per 20 funding rows
  returned.

Sizes are in the coin (no contracts), perpetuals settle in USDC. Hyperliquid publishes no public stream of
forced liquidations (liquidations show only in the fills of the accounts involved), so there is none here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from heatmaps.exchanges.base import BaseConnector, Fields, MarkPrice, Page, align_down, bar_windows, wall_clock_ms
from heatmaps.exchanges.errors import UnknownSymbolError
from heatmaps.exchanges.http import HttpClient
from heatmaps.exchanges.ratelimit import DEFAULT_BUCKET, RateLimiter
from heatmaps.rows import BASE_BAR_MS, CandleRow, FundingRow, OpenInterestRow

CODE = "hyperliquid"
DEFAULT_REST_URL = "https://api.hyperliquid.xyz"
DEFAULT_WS_URL = "wss://api.hyperliquid.xyz/ws"

INFO = "/info"
CANDLES = "info candleSnapshot"
META = "info metaAndAssetCtxs"
FUNDING = "info fundingHistory"

PAGE_LIMIT = 500  # the documented cap on elements per time-range answer
CANDLE_HISTORY_BARS = 5000  # "Only the most recent 5000 candles are available"
HOUR_MS = 3_600_000
BASE_WEIGHT = 20


def candles_weight(items: int) -> int:
    """20, plus 1 per 60 candles returned (charged up front for a full page)."""
    return BASE_WEIGHT + math.ceil(items / 60)


def funding_weight(items: int) -> int:
    """20, plus 1 per 20 funding rows returned (charged up front for a full page)."""
    return BASE_WEIGHT + math.ceil(items / 20)


def make_http(base_url: str = DEFAULT_REST_URL, *, limiter: RateLimiter | None = None, **kwargs: Any) -> HttpClient:
    return HttpClient(CODE, base_url, limiter=limiter, headers={"Content-Type": "application/json"}, **kwargs)


# --------------------------------------------------------------------------- payload parsers (pure)


def parse_candle_snapshot(
    payload: Any, *, now_ms: int, coin: str | None = None, interval: str = "5m", endpoint: str = CANDLES
) -> list[CandleRow]:
    """Candles → closed CandleRows, oldest first. A candle whose close ``T`` is not yet past is still forming
    and dropped; one of another coin or interval than asked is refused (it would land in the wrong series)."""
    f = Fields(CODE, endpoint)
    out = []
    for i, item in enumerate(f.list_(payload, "response")):
        item = f.dict_(item, f"row {i}")
        if coin is not None and item.get("s") not in (None, coin):
            raise f.bad(f"row {i} is for coin {item.get('s')!r}, not {coin!r}")
        if item.get("i") not in (None, interval):
            raise f.bad(f"row {i} has interval {item.get('i')!r}, not {interval!r}")
        open_ms = f.ms(f.key(item, "t", f"row {i}"), f"row {i} t")
        close_ms = f.ms(f.key(item, "T", f"row {i}"), f"row {i} T")
        o, h, lo, c = (f.req_num(f.key(item, k, f"row {i}"), f"row {i} {k}") for k in ("o", "h", "l", "c"))
        if h < lo:
            raise f.bad(f"row {i} high {h} < low {lo}")
        if close_ms >= now_ms:
            continue  # still forming
        out.append(
            CandleRow(
                open_time_ms=open_ms,
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=f.num(item.get("v"), f"row {i} v", allow_empty=True),
                taker_buy_volume=None,
                quote_volume=None,
            )
        )
    out.sort(key=lambda r: r.open_time_ms)
    return out


def parse_funding_history(payload: Any, *, coin: str | None = None, endpoint: str = FUNDING) -> list[FundingRow]:
    """``[{coin, fundingRate, premium, time}]`` → FundingRows (the hourly rate), oldest first."""
    f = Fields(CODE, endpoint)
    out = []
    for i, item in enumerate(f.list_(payload, "response")):
        item = f.dict_(item, f"row {i}")
        if coin is not None and item.get("coin") not in (None, coin):
            raise f.bad(f"row {i} is for coin {item.get('coin')!r}, not {coin!r}")
        out.append(
            FundingRow(
                time_ms=f.ms(f.key(item, "time", f"row {i}"), f"row {i} time"),
                rate=f.req_num(f.key(item, "fundingRate", f"row {i}"), f"row {i} fundingRate"),
                mark_price=None,
            )
        )
    out.sort(key=lambda r: r.time_ms)
    return out


@dataclass(frozen=True, slots=True)
class AssetContext:
    """One perpetual of ``metaAndAssetCtxs``: the universe entry and its state now."""

    coin: str
    sz_decimals: int
    max_leverage: int | None
    delisted: bool
    mark_price: float | None
    oracle_price: float | None
    funding_rate: float | None  # the current hourly rate
    open_interest: float | None  # in the coin


def parse_universe(payload: Any, endpoint: str = META) -> list[dict[str, Any]]:
    """``meta.universe`` of ``meta`` or of ``[meta, ctxs]``."""
    f = Fields(CODE, endpoint)
    meta = payload[0] if isinstance(payload, list) and payload else payload
    meta = f.dict_(meta, "meta")
    return [f.dict_(u, f"universe[{i}]") for i, u in enumerate(f.list_(f.key(meta, "universe", "meta"), "universe"))]


def parse_meta_and_asset_ctxs(payload: Any, *, endpoint: str = META) -> dict[str, AssetContext]:
    """``[meta, ctxs]`` → coin → AssetContext. The two lists pair by position, so their lengths must agree."""
    f = Fields(CODE, endpoint)
    pair = f.list_(payload, "response")
    if len(pair) != 2:
        raise f.bad(f"expected [meta, assetCtxs], got {len(pair)} elements")
    universe = parse_universe(pair, endpoint)
    ctxs = f.list_(pair[1], "assetCtxs")
    if len(ctxs) != len(universe):
        raise f.bad(f"{len(universe)} perpetuals in the universe but {len(ctxs)} asset contexts")
    out: dict[str, AssetContext] = {}
    for i, (u, ctx) in enumerate(zip(universe, ctxs, strict=True)):
        ctx = f.dict_(ctx, f"assetCtxs[{i}]")
        coin = str(f.key(u, "name", f"universe[{i}]"))
        max_lev = u.get("maxLeverage")
        out[coin] = AssetContext(
            coin=coin,
            sz_decimals=int(f.req_num(u.get("szDecimals", 0), f"universe[{i}].szDecimals")),
            max_leverage=int(max_lev) if isinstance(max_lev, int | float) and not isinstance(max_lev, bool) else None,
            delisted=bool(u.get("isDelisted")),
            mark_price=f.num(ctx.get("markPx"), f"assetCtxs[{i}].markPx", allow_empty=True),
            oracle_price=f.num(ctx.get("oraclePx"), f"assetCtxs[{i}].oraclePx", allow_empty=True),
            funding_rate=f.num(ctx.get("funding"), f"assetCtxs[{i}].funding", allow_empty=True),
            open_interest=f.num(ctx.get("openInterest"), f"assetCtxs[{i}].openInterest", allow_empty=True),
        )
    return out


# --------------------------------------------------------------------------- connector


class HyperliquidConnector(BaseConnector):
    code = CODE
    # Candles: the newest 5000 bars. Open interest: only the figure now (no history endpoint).
    history_limits_ms = {"candles": CANDLE_HISTORY_BARS * BASE_BAR_MS, "open_interest": BASE_BAR_MS, "funding": None}

    def __init__(self, http: HttpClient, *, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        super().__init__(http, now_ms=now_ms)

    def instrument(self, base: str, quote: str) -> str:
        """Perpetuals are named by their coin and margined in USDC whatever the asset's quote."""
        return base.upper()

    def _info(self, body: dict[str, Any], parse: Callable[[Any], Any], weight: int, endpoint: str) -> Any:
        return self.http.post(INFO, body, parse=parse, costs={DEFAULT_BUCKET: weight}, endpoint=endpoint)

    def fetch_asset_contexts(self) -> dict[str, AssetContext]:
        return self._info({"type": "metaAndAssetCtxs"}, parse_meta_and_asset_ctxs, BASE_WEIGHT, META)

    def fetch_symbols(self) -> list[str]:
        """The listed perpetuals' coins (delisted ones left out): what a symbol mapping may name."""
        return [c.coin for c in self.fetch_asset_contexts().values() if not c.delisted]

    def _context(self, symbol: str) -> AssetContext:
        ctx = self.fetch_asset_contexts().get(symbol)
        if ctx is None:
            raise UnknownSymbolError(
                f"hyperliquid: no perpetual {symbol!r} in metaAndAssetCtxs", exchange=CODE, endpoint=META
            )
        return ctx

    def iter_candles(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[CandleRow]]:
        end_ms = self._clamp_end(end_ms)
        for ws, we in bar_windows(start_ms, end_ms, PAGE_LIMIT):
            body = {
                "type": "candleSnapshot",
                "req": {"coin": symbol, "interval": "5m", "startTime": ws, "endTime": we - 1},
            }
            rows = self._info(
                body,
                partial(parse_candle_snapshot, now_ms=self.now_ms(), coin=symbol),
                candles_weight(PAGE_LIMIT),
                CANDLES,
            )
            yield Page([r for r in rows if ws <= r.open_time_ms < we], we - start_ms)

    def iter_open_interest(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[OpenInterestRow]]:
        """The open interest now, stamped on the 5-minute boundary at or before now (the close of the bar just
        ended, as other venues stamp theirs); a later read within the same bar replaces it. Nothing when
        that time is outside [start_ms, end_ms): there is no history to fetch."""
        at = align_down(self.now_ms())
        if not start_ms <= at < end_ms:
            yield Page([], end_ms - start_ms)
            return
        ctx = self._context(symbol)
        if ctx.open_interest is None:
            yield Page([], end_ms - start_ms)
            return
        value = ctx.open_interest * ctx.mark_price if ctx.mark_price is not None else None
        yield Page([OpenInterestRow(at, ctx.open_interest, value)], end_ms - start_ms)

    def iter_funding(self, symbol: str, start_ms: int, end_ms: int) -> Iterator[Page[FundingRow]]:
        """Forward paging from ``startTime``: a full page (500) goes on after its last time."""
        cursor = start_ms
        while cursor < end_ms:
            body = {"type": "fundingHistory", "coin": symbol, "startTime": cursor, "endTime": end_ms - 1}
            rows = self._info(body, partial(parse_funding_history, coin=symbol), funding_weight(PAGE_LIMIT), FUNDING)
            kept = [r for r in rows if cursor <= r.time_ms < end_ms]
            if not kept:
                yield Page([], end_ms - start_ms)
                return
            done = len(rows) < PAGE_LIMIT
            last = kept[-1].time_ms
            yield Page(kept, end_ms - start_ms if done else last + 1 - start_ms)
            if done:
                return
            cursor = last + 1

    def fetch_current_open_interest(self, symbol: str) -> OpenInterestRow:
        ctx = self._context(symbol)
        value = ctx.open_interest * ctx.mark_price if ctx.open_interest is not None and ctx.mark_price else None
        return OpenInterestRow(self.now_ms(), ctx.open_interest, value)

    def fetch_mark_price(self, symbol: str) -> MarkPrice:
        """Mark and oracle price and the current hourly funding rate; funding settles on every hour, and the
        answer carries no time of its own, so it is stamped with the time it was read."""
        ctx = self._context(symbol)
        if ctx.mark_price is None:
            raise Fields(CODE, META).bad(f"{symbol}: no markPx")
        now = self.now_ms()
        return MarkPrice(
            symbol=symbol,
            mark_price=ctx.mark_price,
            index_price=ctx.oracle_price,
            last_funding_rate=ctx.funding_rate,
            next_funding_time_ms=(now // HOUR_MS + 1) * HOUR_MS,
            time_ms=now,
        )
