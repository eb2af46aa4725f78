"""Bybit v5 linear market streams: ``kline.5.<SYMBOL>`` (``confirm`` marks the closed bar) and
``tickers.<SYMBOL>`` (a snapshot, then deltas)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from heatmaps.exchanges.base import Fields
from heatmaps.exchanges.liquidations import Frame, _decode
from heatmaps.exchanges.streams.events import BarEvent, MarketEvent, MarkEvent, OiEvent, candle_row

BYBIT_ENDPOINT = "ws kline.5/tickers"


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
                row = candle_row(
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
