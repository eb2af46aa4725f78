"""Binance USDⓈ-M market streams: ``<symbol>@kline_5m`` and ``<symbol>@markPrice@1s`` on the combined
stream (topics in the URL); Binance streams no open interest (the streamer polls it)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from heatmaps.exchanges.base import Fields
from heatmaps.exchanges.liquidations import Frame, _decode
from heatmaps.exchanges.streams.events import BarEvent, MarketEvent, MarkEvent, candle_row

BINANCE_ENDPOINT = "ws kline_5m/markPrice"


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
        row = candle_row(
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


def binance_topics(symbols: Sequence[str]) -> list[str]:
    return [t for s in symbols for t in (f"{s.lower()}@kline_5m", f"{s.lower()}@markPrice@1s")]


def binance_url(base: str, topics: Sequence[str]) -> str:
    """The combined-stream URL opened with the current topics; later changes go as SUBSCRIBE messages."""
    return f"{base}{'&' if '?' in base else '?'}streams={'/'.join(topics)}"


def binance_messages(op: str, topics: Sequence[str], *, request_id: int = 1) -> list[str]:
    method = "SUBSCRIBE" if op == "subscribe" else "UNSUBSCRIBE"
    return [json.dumps({"method": method, "params": list(topics), "id": request_id})] if topics else []
