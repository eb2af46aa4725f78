"""Gate USDT-settled futures streams (``wss://fx-ws.gateio.ws/v4/ws/usdt``), per its futures websocket v4
documentation (gate.com/docs/developers/futures/ws/en/):

- A request is ``{"time": <s>, "channel": …, "event": "subscribe"|"unsubscribe", "payload": […]}``.
- ``futures.candlesticks`` with payload ``["5m", "BTC_USDT"]`` pushes ``result: [{t, o, h, l, c, v, n, a,
  w}]``: ``t`` the open time in **seconds**, prices as strings, ``v`` the volume in **contracts**, ``n`` the
  subscription's name ``5m_BTC_USDT``; ``w: true`` marks a closed window (it "may be missing"), otherwise a
  bar is closed when a later one arrives.
- ``futures.tickers`` with payload ``["BTC_USDT"]`` pushes ``result: [{contract, mark_price, total_size
  (open interest in contracts), …}]``, stamped by the frame's ``time_ms``.
- ``futures.ping`` is answered with ``futures.pong``; a refused request's answer carries ``error: {code,
  message}``.

Contracts become the coin through the contract's ``quanto_multiplier`` (REST ``/futures/usdt/contracts/{c}``),
which the caller supplies: a contract without one gives no bar and no open interest (the REST ingest has them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence

from heatmaps.exchanges.base import Fields
from heatmaps.exchanges.gate import seconds_ms
from heatmaps.exchanges.liquidations import Frame, _decode
from heatmaps.exchanges.streams.events import (
    MarketEvent,
    MarkEvent,
    OiEvent,
    OpenBars,
    StreamRefused,
    candle_row,
    contracts_to_base,
    last_forming_only,
)

GATE_ENDPOINT = "ws futures.candlesticks/futures.tickers"
GATE_CHANNELS = ("futures.candlesticks", "futures.tickers")


class GateMarketParser:
    def __init__(self, multipliers: Mapping[str, float], *, on_unsized: Callable[[str], None] | None = None) -> None:
        self.multipliers = multipliers
        self.on_unsized = on_unsized
        self.bars = OpenBars()

    def reset(self) -> None:
        self.bars.reset()

    def __call__(self, frame: Frame) -> list[MarketEvent]:
        msg = _decode(frame)
        if isinstance(msg, dict) and msg.get("error"):
            raise StreamRefused("gate", f"{msg.get('channel')} {msg.get('event')}: {msg['error']}")
        if not isinstance(msg, dict) or msg.get("event") != "update":
            return []  # subscribe acks, futures.pong
        channel = msg.get("channel")
        f = Fields("gate", GATE_ENDPOINT)
        result = msg.get("result")
        items = f.list_(result if isinstance(result, list) else [result], "result")
        out: list[MarketEvent] = []
        if channel == "futures.candlesticks":
            parsed = []
            for i, item in enumerate(items):
                item = f.dict_(item, f"result[{i}]")
                interval, _, contract = str(f.key(item, "n", f"result[{i}]")).partition("_")
                if interval != "5m" or not contract:
                    continue
                contracts = f.num(item.get("v"), f"result[{i}].v", allow_empty=True)
                volume = contracts_to_base(contract, contracts, self.multipliers, self.on_unsized)
                if volume is None and contracts is not None:
                    continue  # not stored without its volume: the REST ingest brings that bar whole
                row = candle_row(
                    f,
                    open_time=seconds_ms(f, f.key(item, "t", f"result[{i}]"), f"result[{i}].t"),
                    ohlc=(item.get("o"), item.get("h"), item.get("l"), item.get("c")),
                    volume=volume,
                    taker_buy=None,
                    quote=None,
                )
                parsed.append((contract, row, item.get("w") is True))
            for contract, row, final in sorted(parsed, key=lambda p: p[1].open_time_ms):
                out += self.bars.push(contract, row, final=final)
            out = last_forming_only(out)
        elif channel == "futures.tickers":
            stamp = msg.get("time_ms")
            at = f.ms(stamp, "time_ms") if stamp is not None else seconds_ms(f, f.key(msg, "time", "message"), "time")
            for i, item in enumerate(items):
                item = f.dict_(item, f"result[{i}]")
                contract = str(f.key(item, "contract", f"result[{i}]"))
                mark = f.num(item.get("mark_price"), f"result[{i}].mark_price", allow_empty=True)
                if mark is not None:
                    out.append(MarkEvent(contract, at, mark))
                size = f.num(item.get("total_size"), f"result[{i}].total_size", allow_empty=True)
                base = contracts_to_base(contract, size, self.multipliers, self.on_unsized)
                if base is not None:
                    out.append(OiEvent(contract, at, base, base * mark if mark is not None else None))
        return out


def gate_topics(contracts: Sequence[str]) -> list[str]:
    return [f"{c}:{contract}" for contract in contracts for c in GATE_CHANNELS]


def gate_messages(op: str, topics: Sequence[str], *, now_s: Callable[[], float] = time.time) -> list[str]:
    """One request a topic: candlesticks take one contract a request, and so unsubscribing stays per topic."""
    out = []
    for topic in topics:
        channel, contract = topic.split(":", 1)
        payload = ["5m", contract] if channel == "futures.candlesticks" else [contract]
        out.append(json.dumps({"time": int(now_s()), "channel": channel, "event": op, "payload": payload}))
    return out


def gate_ping(*, now_s: Callable[[], float] = time.time) -> str:
    return json.dumps({"time": int(now_s()), "channel": "futures.ping"})
