"""Deribit perpetual streams (``wss://www.deribit.com/ws/api/v2``, JSON-RPC 2.0), per the API v2
documentation (docs.deribit.com, *Subscriptions*):

- ``public/subscribe`` with ``channels: ["chart.trades.BTC-PERPETUAL.5", "ticker.BTC-PERPETUAL.agg2"]``;
  pushes are ``{"method": "subscription", "params": {"channel", "data"}}``.
- ``chart.trades.{instrument}.5`` pushes the 5-minute bar in progress ``{tick (open, ms), open, high, low,
  close, volume (the coin), cost (USD)}``; nothing says it is final, so a bar is closed when a later tick
  arrives.
- ``ticker.{instrument}.agg2`` pushes ``{timestamp, mark_price, open_interest, …}``: open interest in USD for
  an inverse perpetual (BTC-PERPETUAL), in the coin for a linear one (SOL_USDC-PERPETUAL); which kind an
  instrument is comes from REST ``public/get_instrument`` and is supplied by the caller.
- ``public/set_heartbeat`` makes the venue send ``{"method": "heartbeat", "params": {"type":
  "test_request"}}``, which must be answered with ``public/test`` or the connection is closed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
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

DERIBIT_ENDPOINT = "ws chart.trades/ticker"
DERIBIT_CHANNELS = ("chart", "ticker")
HEARTBEAT_S = 30

_ids = itertools.count(1)  # JSON-RPC request ids: only told apart, never read back


def _request(method: str, params: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params})


class DeribitMarketParser:
    def __init__(self, inverse: Mapping[str, bool], *, on_unknown: Callable[[str], None] | None = None) -> None:
        self.inverse = inverse  # instrument → its open interest is in USD (instrument_type "reversed")
        self.on_unknown = on_unknown
        self.bars = OpenBars()

    def reset(self) -> None:
        self.bars.reset()

    def __call__(self, frame: Frame) -> list[MarketEvent]:
        msg = _decode(frame)
        if isinstance(msg, dict) and isinstance(msg.get("error"), dict):
            raise StreamRefused("deribit", f"code {msg['error'].get('code')}: {msg['error'].get('message')}")
        if not isinstance(msg, dict) or msg.get("method") != "subscription":
            return []  # results, heartbeats
        f = Fields("deribit", DERIBIT_ENDPOINT)
        params = f.dict_(msg.get("params"), "params")
        channel = str(f.key(params, "channel", "params"))
        parts = channel.split(".")
        data = params.get("data")
        if channel.startswith("chart.trades.") and len(parts) == 4:
            if parts[3] != "5":
                return []
            out: list[MarketEvent] = []
            for i, item in enumerate(data if isinstance(data, list) else [data]):
                item = f.dict_(item, f"data[{i}]")
                row = candle_row(
                    f,
                    open_time=f.ms(f.key(item, "tick", f"data[{i}]"), f"data[{i}].tick"),
                    ohlc=(item.get("open"), item.get("high"), item.get("low"), item.get("close")),
                    volume=f.num(item.get("volume"), f"data[{i}].volume", allow_empty=True),
                    taker_buy=None,
                    quote=f.num(item.get("cost"), f"data[{i}].cost", allow_empty=True),
                )
                out += self.bars.push(parts[2], row)
            return last_forming_only(out)
        if parts[0] == "ticker" and len(parts) == 3:
            data = f.dict_(data, "data")
            inst = str(data.get("instrument_name") or parts[1])
            at = f.ms(f.key(data, "timestamp", "data"), "data.timestamp")
            mark = f.req_num(f.key(data, "mark_price", "data"), "data.mark_price")
            events: list[MarketEvent] = [MarkEvent(inst, at, mark)]
            oi = f.num(data.get("open_interest"), "data.open_interest", allow_empty=True)
            if oi is not None:
                inverse = self.inverse.get(inst)
                if inverse is None:
                    if self.on_unknown is not None:
                        self.on_unknown(inst)
                elif inverse:  # USD: that is its value; in the coin, that value at the mark (as REST reads it)
                    events.append(OiEvent(inst, at, oi / mark, oi))
                else:
                    events.append(OiEvent(inst, at, oi, oi * mark))
            return events
        return []


def deribit_topics(instruments: Sequence[str]) -> list[str]:
    return [f"{c}:{inst}" for inst in instruments for c in DERIBIT_CHANNELS]


def deribit_channel(topic: str) -> str:
    kind, inst = topic.split(":", 1)
    return f"chart.trades.{inst}.5" if kind == "chart" else f"ticker.{inst}.agg2"


def deribit_messages(op: str, topics: Sequence[str], *, per_message: int = 50) -> list[str]:
    channels = [deribit_channel(t) for t in topics]
    method = "public/subscribe" if op == "subscribe" else "public/unsubscribe"
    return [_request(method, {"channels": channels[i : i + per_message]}) for i in range(0, len(channels), per_message)]


def deribit_hello() -> list[str]:
    return [_request("public/set_heartbeat", {"interval": HEARTBEAT_S})]


def deribit_answer(frame: Frame) -> str | None:
    """``public/test`` for the venue's ``test_request`` heartbeat; nothing for any other frame."""
    msg = _decode(frame)
    if isinstance(msg, dict) and msg.get("method") == "heartbeat":
        params = msg.get("params")
        if isinstance(params, dict) and params.get("type") == "test_request":
            return _request("public/test", {})
    return None
