"""Bitget v2 USDT-M market streams (``wss://ws.bitget.com/v2/ws/public``), per its websocket documentation
(bitget.com/api-doc/contract/websocket/public/…):

- ``{"op": "subscribe", "args": [{"instType": "USDT-FUTURES", "channel": "candle5m", "instId": "BTCUSDT"}]}``:
  pushes ``{"action": "snapshot"|"update", "arg": {…}, "data": [[ts, o, h, l, c, baseVolume, quoteVolume,
  usdtVolume], …], "ts"}``, ``ts`` the bar's open time in ms. The snapshot lists the recent bars, the
  updates the bar in progress; nothing says a bar is final, so a bar is closed when a later one arrives.
- ``ticker`` pushes ``data: [{instId, markPrice, holdingAmount (open interest in the coin), ts, …}]``.
- Acks are ``{"event": "subscribe", …}``, refusals ``{"event": "error", "code", "msg"}``; the client sends the text ``ping`` every 30 s and gets ``pong``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from heatmaps.exchanges.base import Fields
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

BITGET_ENDPOINT = "ws candle5m/ticker"
BITGET_CHANNELS = ("candle5m", "ticker")
BITGET_INST_TYPE = "USDT-FUTURES"


class BitgetMarketParser:
    def __init__(self) -> None:
        self.bars = OpenBars()

    def reset(self) -> None:
        self.bars.reset()

    def __call__(self, frame: Frame) -> list[MarketEvent]:
        msg = _decode(frame)
        if isinstance(msg, dict) and msg.get("event") == "error":
            raise StreamRefused("bitget", f"code {msg.get('code')}: {msg.get('msg')} ({msg.get('arg')})")
        if not isinstance(msg, dict) or "event" in msg or "data" not in msg:
            return []  # {"event": "subscribe", …}, "pong"
        arg: dict[str, Any] = msg["arg"] if isinstance(msg.get("arg"), dict) else {}
        channel = arg.get("channel")
        f = Fields("bitget", BITGET_ENDPOINT)
        data = f.list_(msg["data"], "data")
        out: list[MarketEvent] = []
        if channel == "candle5m":
            inst = str(f.key(arg, "instId", "arg"))
            rows = []
            for i, item in enumerate(data):
                item = f.list_(item, f"data[{i}]")
                if len(item) < 7:
                    raise f.bad(f"data[{i}] has {len(item)} elements, expected 8: {item!r}")
                rows.append(
                    candle_row(
                        f,
                        open_time=f.ms(item[0], f"data[{i}] ts"),
                        ohlc=(item[1], item[2], item[3], item[4]),
                        volume=f.num(item[5], f"data[{i}] baseVolume", allow_empty=True),
                        taker_buy=None,
                        quote=f.num(item[6], f"data[{i}] quoteVolume", allow_empty=True),
                    )
                )
            rows.sort(key=lambda r: r.open_time_ms)
            if msg.get("action") == "snapshot":
                rows = rows[-2:]  # the last closed bar and the one in progress; older ones are REST's
            for row in rows:
                out += self.bars.push(inst, row)
            out = last_forming_only(out)
        elif channel == "ticker":
            for i, item in enumerate(data):
                item = f.dict_(item, f"data[{i}]")
                inst = str(item.get("instId") or item.get("symbol") or f.key(arg, "instId", "arg"))
                at = f.ms(f.key(item, "ts", f"data[{i}]"), f"data[{i}].ts")
                mark = f.num(item.get("markPrice"), f"data[{i}].markPrice", allow_empty=True)
                oi = f.num(item.get("holdingAmount"), f"data[{i}].holdingAmount", allow_empty=True)
                if mark is not None:
                    out.append(MarkEvent(inst, at, mark))
                if oi is not None:
                    out.append(OiEvent(inst, at, oi, oi * mark if mark is not None else None))
        return out


def bitget_topics(symbols: Sequence[str]) -> list[str]:
    return [f"{c}:{s}" for s in symbols for c in BITGET_CHANNELS]


def bitget_messages(op: str, topics: Sequence[str], *, per_message: int = 20) -> list[str]:
    args = [{"instType": BITGET_INST_TYPE, "channel": t.split(":", 1)[0], "instId": t.split(":", 1)[1]} for t in topics]
    return [json.dumps({"op": op, "args": args[i : i + per_message]}) for i in range(0, len(args), per_message)]
