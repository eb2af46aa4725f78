"""Hyperliquid market streams (``wss://api.hyperliquid.xyz/ws``), per its websocket documentation
(hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/websocket):

- ``{"method": "subscribe", "subscription": {"type": "candle", "coin": "BTC", "interval": "5m"}}`` pushes
  ``{"channel": "candle", "data": {t, T, s, i, o, c, h, l, v, n}}`` on every change of the bar in progress:
  ``t`` its open time in ms, prices as strings, ``v`` the volume in the coin. Nothing says a bar is final,
  so a bar is closed when one with a later ``t`` arrives (``OpenBars``).
- ``{"type": "activeAssetCtx", "coin": "BTC"}`` pushes ``{"channel": "activeAssetCtx", "data": {"coin",
  "ctx": {markPx, openInterest (coin), funding, oraclePx, …}}}``; the push carries no time, so it is stamped
  when it is read.
- Subscribe answers are ``{"channel": "subscriptionResponse", …}`` (refusals ``{"channel": "error", "data"}``); ``{"method": "ping"}`` is answered with
  ``{"channel": "pong"}``, and a connection silent for 60 s is closed by the venue.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from heatmaps.exchanges.base import Fields, wall_clock_ms
from heatmaps.exchanges.liquidations import Frame, _decode
from heatmaps.exchanges.streams.events import (
    MarketEvent,
    MarkEvent,
    OiEvent,
    OpenBars,
    StreamRefused,
    candle_row,
    last_forming_only,
)

HYPERLIQUID_ENDPOINT = "ws candle/activeAssetCtx"
HYPERLIQUID_CHANNELS = ("candle", "activeAssetCtx")
HYPERLIQUID_PING = '{"method":"ping"}'


class HyperliquidMarketParser:
    def __init__(self, *, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.now_ms = now_ms
        self.bars = OpenBars()

    def reset(self) -> None:
        self.bars.reset()

    def __call__(self, frame: Frame) -> list[MarketEvent]:
        msg = _decode(frame)
        if not isinstance(msg, dict):
            return []
        channel = msg.get("channel")
        f = Fields("hyperliquid", HYPERLIQUID_ENDPOINT)
        if channel == "candle":
            data = msg.get("data")
            items = data if isinstance(data, list) else [data]  # one candle a push; a list is read too
            out: list[MarketEvent] = []
            for i, item in enumerate(items):
                item = f.dict_(item, f"data[{i}]")
                if item.get("i") != "5m":
                    continue
                row = candle_row(
                    f,
                    open_time=f.ms(f.key(item, "t", f"data[{i}]"), f"data[{i}].t"),
                    ohlc=(item.get("o"), item.get("h"), item.get("l"), item.get("c")),
                    volume=f.num(item.get("v"), f"data[{i}].v", allow_empty=True),
                    taker_buy=None,
                    quote=None,
                )
                out += self.bars.push(str(f.key(item, "s", f"data[{i}]")), row)
            return last_forming_only(out)
        if channel == "activeAssetCtx":
            data = f.dict_(msg.get("data"), "data")
            coin = str(f.key(data, "coin", "data"))
            ctx = f.dict_(f.key(data, "ctx", "data"), "data.ctx")
            at = self.now_ms()
            mark = f.num(ctx.get("markPx"), "ctx.markPx", allow_empty=True)
            oi = f.num(ctx.get("openInterest"), "ctx.openInterest", allow_empty=True)
            events: list[MarketEvent] = []
            if mark is not None:
                events.append(MarkEvent(coin, at, mark))
            if oi is not None:
                events.append(OiEvent(coin, at, oi, oi * mark if mark is not None else None))
            return events
        if channel == "error":
            raise StreamRefused("hyperliquid", msg.get("data"))
        return []  # subscriptionResponse, pong


def hyperliquid_topics(coins: Sequence[str]) -> list[str]:
    return [f"{c}:{coin}" for coin in coins for c in HYPERLIQUID_CHANNELS]


def hyperliquid_messages(op: str, topics: Sequence[str]) -> list[str]:
    """One subscription a message, as the venue takes them."""
    out = []
    for topic in topics:
        channel, coin = topic.split(":", 1)
        sub: dict[str, Any] = {"type": channel, "coin": coin}
        if channel == "candle":
            sub["interval"] = "5m"
        out.append(json.dumps({"method": op, "subscription": sub}))
    return out
