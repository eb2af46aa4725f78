"""Market-data websockets: 5-minute bars, mark prices and open interest as they happen (no Django).

Channels read (payloads as the exchanges document them; fixtures in tests/heatmaps/exchanges/fixtures):

=========  ==========================================  ===========================================
Exchange   bars                                        mark price / open interest
=========  ==========================================  ===========================================
Binance    ``<symbol>@kline_5m`` (combined stream)     ``<symbol>@markPrice@1s``; no OI stream
Bybit      ``kline.5.<SYMBOL>``                        ``tickers.<SYMBOL>`` (snapshot + deltas)
OKX        ``candle5m`` (business endpoint)            ``mark-price``, ``open-interest`` (public)
=========  ==========================================  ===========================================

A parser turns one frame into ``MarketEvent``s: a ``BarEvent`` (``closed`` once the exchange says the bar
is final: Binance ``k.x``, Bybit ``confirm``, OKX confirm ``"1"``), a ``MarkEvent`` or an ``OiEvent``
(a snapshot at its own time; ``CloseSampler`` turns snapshots into one row per bar close). Acks, pongs
and other frames give ``[]``; malformed data frames raise ``MalformedPayload``.

The connection loop that feeds them is in ``market_connection.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heatmaps.exchanges.base import Fields
from heatmaps.exchanges.liquidations import Frame, _decode
from heatmaps.rows import BASE_BAR_MS, CandleRow, OpenInterestRow

BINANCE_ENDPOINT = "ws kline_5m/markPrice"
BYBIT_ENDPOINT = "ws kline.5/tickers"
OKX_ENDPOINT = "ws candle5m/mark-price/open-interest"


@dataclass(frozen=True, slots=True)
class BarEvent:
    symbol: str  # the exchange's instrument name
    row: CandleRow
    closed: bool


@dataclass(frozen=True, slots=True)
class MarkEvent:
    symbol: str
    time_ms: int
    mark_price: float


@dataclass(frozen=True, slots=True)
class OiEvent:
    symbol: str
    time_ms: int  # when the exchange took the snapshot
    oi_base: float | None
    oi_value: float | None


MarketEvent = BarEvent | MarkEvent | OiEvent
MarketParser = Callable[[Frame], list[MarketEvent]]


# --------------------------------------------------------------------------- Binance


def parse_binance_market(frame: Frame) -> list[MarketEvent]:
    """``kline`` (5m only) and ``markPriceUpdate`` events, bare or in the combined ``{"stream", "data"}``."""
    msg = _decode(frame)
    if isinstance(msg, dict) and "data" in msg and "stream" in msg:
        msg = msg["data"]
    if not isinstance(msg, dict):
        return []
    f = Fields("binance", BINANCE_ENDPOINT)
    event = msg.get("e")
    if event == "kline":
        k = f.dict_(f.key(msg, "k", "event"), "k")
        if k.get("i") != "5m":
            return []
        closed = f.key(k, "x", "k")
        if not isinstance(closed, bool):
            raise f.bad(f"k.x is not a boolean: {closed!r}")
        row = _candle(
            f,
            open_time=f.ms(f.key(k, "t", "k"), "k.t"),
            ohlc=(k.get("o"), k.get("h"), k.get("l"), k.get("c")),
            volume=f.num(k.get("v"), "k.v", allow_empty=True),
            taker_buy=f.num(k.get("V"), "k.V", allow_empty=True),
            quote=f.num(k.get("q"), "k.q", allow_empty=True),
        )
        return [BarEvent(str(f.key(k, "s", "k")), row, closed)]
    if event == "markPriceUpdate":
        return [
            MarkEvent(str(f.key(msg, "s", "event")), f.ms(f.key(msg, "E", "event"), "E"), f.req_num(msg.get("p"), "p"))
        ]
    return []  # {"result": null, "id": 1} acks and anything else


def _candle(
    f: Fields,
    *,
    open_time: int,
    ohlc: tuple[Any, Any, Any, Any],
    volume: float | None,
    taker_buy: float | None,
    quote: float | None,
) -> CandleRow:
    if open_time % BASE_BAR_MS:
        raise f.bad(f"bar start {open_time} is not on a 5-minute boundary")
    o, h, lo, c = (f.req_num(v, n) for v, n in zip(ohlc, ("open", "high", "low", "close"), strict=True))
    if h < lo:
        raise f.bad(f"high {h} < low {lo}")
    return CandleRow(open_time, o, h, lo, c, volume=volume, taker_buy_volume=taker_buy, quote_volume=quote)


def binance_topics(symbols: Sequence[str]) -> list[str]:
    return [t for s in symbols for t in (f"{s.lower()}@kline_5m", f"{s.lower()}@markPrice@1s")]


def binance_url(base: str, topics: Sequence[str]) -> str:
    """The combined-stream URL opened with the current topics; later changes go as SUBSCRIBE messages."""
    return f"{base}{'&' if '?' in base else '?'}streams={'/'.join(topics)}"


def binance_messages(op: str, topics: Sequence[str], *, request_id: int = 1) -> list[str]:
    method = "SUBSCRIBE" if op == "subscribe" else "UNSUBSCRIBE"
    return [json.dumps({"method": method, "params": list(topics), "id": request_id})] if topics else []


# --------------------------------------------------------------------------- Bybit


class BybitMarketParser:
    """``kline.5.<SYMBOL>`` and ``tickers.<SYMBOL>``. Tickers come as one snapshot, then deltas that carry
    only the fields that changed: the merged state per symbol is kept, so every frame yields the full
    mark price and open interest as of its ``ts``."""

    def __init__(self) -> None:
        self.tickers: dict[str, dict[str, Any]] = {}

    def __call__(self, frame: Frame) -> list[MarketEvent]:
        msg = _decode(frame)
        if not isinstance(msg, dict):
            return []
        topic = str(msg.get("topic", ""))
        f = Fields("bybit", BYBIT_ENDPOINT)
        if topic.startswith("kline.5."):
            symbol = topic.removeprefix("kline.5.")
            out: list[MarketEvent] = []
            for i, item in enumerate(f.list_(msg.get("data"), "data")):
                item = f.dict_(item, f"data[{i}]")
                confirm = f.key(item, "confirm", f"data[{i}]")
                if not isinstance(confirm, bool):
                    raise f.bad(f"data[{i}].confirm is not a boolean: {confirm!r}")
                row = _candle(
                    f,
                    open_time=f.ms(f.key(item, "start", f"data[{i}]"), f"data[{i}].start"),
                    ohlc=(item.get("open"), item.get("high"), item.get("low"), item.get("close")),
                    volume=f.num(item.get("volume"), f"data[{i}].volume", allow_empty=True),
                    taker_buy=None,
                    quote=f.num(item.get("turnover"), f"data[{i}].turnover", allow_empty=True),
                )
                out.append(BarEvent(symbol, row, confirm))
            return out
        if topic.startswith("tickers."):
            data = f.dict_(msg.get("data"), "data")
            symbol = str(data.get("symbol") or topic.removeprefix("tickers."))
            if msg.get("type") == "snapshot" or symbol not in self.tickers:
                state = dict(data)
            else:
                state = {**self.tickers[symbol], **data}
            self.tickers[symbol] = state
            t = f.ms(f.key(msg, "ts", "message"), "ts")
            out = []
            mark = f.num(state.get("markPrice"), "markPrice", allow_empty=True)
            if mark is not None:
                out.append(MarkEvent(symbol, t, mark))
            oi = f.num(state.get("openInterest"), "openInterest", allow_empty=True)
            if oi is not None:
                value = f.num(state.get("openInterestValue"), "openInterestValue", allow_empty=True)
                out.append(OiEvent(symbol, t, oi, value))
            return out
        return []  # {"success": true, "op": "subscribe"}, pong, …


def bybit_topics(symbols: Sequence[str]) -> list[str]:
    return [t for s in symbols for t in (f"kline.5.{s}", f"tickers.{s}")]


def bybit_messages(op: str, topics: Sequence[str], *, per_message: int = 10) -> list[str]:
    """Bybit takes up to 10 args per message."""
    topics = list(topics)
    return [json.dumps({"op": op, "args": topics[i : i + per_message]}) for i in range(0, len(topics), per_message)]


# --------------------------------------------------------------------------- OKX


def parse_okx_market(
    frame: Frame, contract_sizes: Mapping[str, float], *, on_unsized: Callable[[str], None] | None = None
) -> list[MarketEvent]:
    """``candle5m`` rows ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]``, ``mark-price`` and
    ``open-interest`` pushes. Swap volumes and open interest are taken in the base coin (``volCcy``,
    ``oiCcy``), as the REST connector reads them; only when those are missing are contracts converted
    with the instrument's contract size (``InstrumentSpec``)."""
    msg = _decode(frame)
    if not isinstance(msg, dict) or "event" in msg or "data" not in msg:
        return []  # {"event": "subscribe", …}, {"event": "error", …}, "pong"
    arg: dict[str, Any] = msg["arg"] if isinstance(msg.get("arg"), dict) else {}
    channel = str(arg.get("channel", ""))
    f = Fields("okx", OKX_ENDPOINT)
    data = f.list_(msg["data"], "data")
    out: list[MarketEvent] = []
    if channel == "candle5m":
        inst = str(f.key(arg, "instId", "arg"))
        for i, row in enumerate(data):
            row = f.list_(row, f"data[{i}]")
            if len(row) < 9:
                raise f.bad(f"data[{i}] has {len(row)} elements, expected 9: {row!r}")
            volume = f.num(row[6], f"data[{i}] volCcy", allow_empty=True)
            if volume is None:
                volume = _contracts_to_base(
                    inst, f.num(row[5], f"data[{i}] vol", allow_empty=True), contract_sizes, on_unsized
                )
            candle = _candle(
                f,
                open_time=f.ms(row[0], f"data[{i}] ts"),
                ohlc=(row[1], row[2], row[3], row[4]),
                volume=volume,
                taker_buy=None,
                quote=f.num(row[7], f"data[{i}] volCcyQuote", allow_empty=True),
            )
            out.append(BarEvent(inst, candle, str(row[8]) == "1"))
    elif channel == "mark-price":
        for i, item in enumerate(data):
            item = f.dict_(item, f"data[{i}]")
            out.append(
                MarkEvent(
                    str(f.key(item, "instId", f"data[{i}]")),
                    f.ms(f.key(item, "ts", f"data[{i}]"), f"data[{i}].ts"),
                    f.req_num(item.get("markPx"), f"data[{i}].markPx"),
                )
            )
    elif channel == "open-interest":
        for i, item in enumerate(data):
            item = f.dict_(item, f"data[{i}]")
            inst = str(f.key(item, "instId", f"data[{i}]"))
            base = f.num(item.get("oiCcy"), f"data[{i}].oiCcy", allow_empty=True)
            if base is None:
                base = _contracts_to_base(
                    inst, f.num(item.get("oi"), f"data[{i}].oi", allow_empty=True), contract_sizes, on_unsized
                )
            value = f.num(item.get("oiUsd"), f"data[{i}].oiUsd", allow_empty=True)
            out.append(OiEvent(inst, f.ms(f.key(item, "ts", f"data[{i}]"), f"data[{i}].ts"), base, value))
    return out


def _contracts_to_base(
    inst: str, contracts: float | None, sizes: Mapping[str, float], on_unsized: Callable[[str], None] | None
) -> float | None:
    if contracts is None:
        return None
    size = sizes.get(inst)
    if size is None:
        if on_unsized is not None:
            on_unsized(inst)
        return None
    return contracts * size


def okx_topics(symbols: Sequence[str], channels: Sequence[str]) -> list[str]:
    """Topics as ``channel:instId``; ``okx_messages`` turns them into OKX's ``args`` objects."""
    return [f"{c}:{s}" for s in symbols for c in channels]


OKX_BUSINESS_CHANNELS = ("candle5m",)
OKX_PUBLIC_CHANNELS = ("mark-price", "open-interest")


def okx_messages(op: str, topics: Sequence[str], *, per_message: int = 20) -> list[str]:
    args = [{"channel": t.split(":", 1)[0], "instId": t.split(":", 1)[1]} for t in topics]
    return [json.dumps({"op": op, "args": args[i : i + per_message]}) for i in range(0, len(args), per_message)]


def topic_symbol(topic: str) -> str:
    """The instrument a topic is about: ``btcusdt@kline_5m`` → BTCUSDT, ``tickers.BTCUSDT`` → BTCUSDT,
    ``candle5m:BTC-USDT-SWAP`` → BTC-USDT-SWAP."""
    if ":" in topic:
        return topic.split(":", 1)[1]
    if "@" in topic:
        return topic.split("@", 1)[0].upper()
    return topic.rsplit(".", 1)[-1]


# --------------------------------------------------------------------------- open interest onto bar closes


class CloseSampler:
    """Open-interest snapshots → one row per 5-minute bar close: the snapshot nearest the close (within
    ``max_distance_ms``), stamped at the close, as Binance's metrics stamp theirs (docs/model.md).

    A close is decided as soon as a snapshot at or after it arrives: later ones can only be farther."""

    def __init__(self, *, step_ms: int = BASE_BAR_MS, max_distance_ms: int = 60_000) -> None:
        self.step = step_ms
        self.max_distance = max_distance_ms
        self._last: dict[str, OiEvent] = {}

    def add(self, ev: OiEvent) -> list[OpenInterestRow]:
        last = self._last.get(ev.symbol)
        if last is not None and ev.time_ms <= last.time_ms:
            return []  # a replay or out of order: that close is already decided
        self._last[ev.symbol] = ev
        if last is None:
            closes = [ev.time_ms] if ev.time_ms % self.step == 0 else []
        else:
            first = last.time_ms - last.time_ms % self.step + self.step  # first close after the last snapshot
            latest = ev.time_ms - ev.time_ms % self.step
            closes = sorted({first, latest}) if first <= latest else []
        out = []
        for close in closes:
            best = ev if last is None or abs(ev.time_ms - close) <= abs(close - last.time_ms) else last
            if abs(best.time_ms - close) <= self.max_distance:
                out.append(OpenInterestRow(close, best.oi_base, best.oi_value))
        return out
