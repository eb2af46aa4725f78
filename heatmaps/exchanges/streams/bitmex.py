"""BitMEX market streams (``wss://ws.bitmex.com/realtime``), per its websocket documentation
(bitmex.com/app/wsAPI), linear USDT perpetuals only as the REST connector reads them:

- ``{"op": "subscribe", "args": ["tradeBin5m:XBTUSDT", "instrument:XBTUSDT"]}``; tables arrive as
  ``{"table", "action": "partial"|"insert"|"update", "data": [rows]}``, acks as ``{"success": true, …}``,
  refusals as ``{"status": 400, "error": "…", "request": {…}}``.
- ``tradeBin5m`` inserts a bucket once it is complete, stamped with its **end** (``timestamp``): the open
  time is ``timestamp`` − 5 minutes, as for ``/trade/bucketed``; ``homeNotional`` is the volume in the coin and
  ``foreignNotional`` in USDT. Every bucket is closed; there is no bar in progress.
- ``instrument`` is a ``partial`` row, then ``update`` rows carrying only what changed: ``markPrice``,
  ``openInterest`` in contracts and ``timestamp``; contracts become the coin with the partial row's
  ``underlyingToPositionMultiplier`` (or ``homeNotional24h`` / ``volume24h``). Inverse and quanto contracts
  are not converted.
- The text ``ping`` is answered with ``pong``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from heatmaps.exchanges.base import Fields
from heatmaps.exchanges.bitmex import iso_ms
from heatmaps.exchanges.liquidations import Frame, _decode
from heatmaps.exchanges.streams.events import BarEvent, MarketEvent, MarkEvent, OiEvent, StreamRefused
from heatmaps.rows import BASE_BAR_MS, CandleRow

BITMEX_ENDPOINT = "ws tradeBin5m/instrument"
BITMEX_CHANNELS = ("tradeBin5m", "instrument")


class BitmexMarketParser:
    def __init__(self) -> None:
        self.instruments: dict[str, dict[str, Any]] = {}

    def __call__(self, frame: Frame) -> list[MarketEvent]:
        msg = _decode(frame)
        if isinstance(msg, dict) and "error" in msg and "table" not in msg:
            raise StreamRefused("bitmex", f"{msg.get('status', '')} {msg['error']} ({msg.get('request')})".strip())
        if not isinstance(msg, dict) or "table" not in msg:
            return []  # welcome, acks, "pong"
        table = msg["table"]
        f = Fields("bitmex", BITMEX_ENDPOINT)
        rows = f.list_(msg.get("data"), "data")
        out: list[MarketEvent] = []
        if table == "tradeBin5m":
            for i, item in enumerate(rows):
                bar = _bucket(f, f.dict_(item, f"data[{i}]"), f"data[{i}]")
                if bar is not None:
                    out.append(bar)
        elif table == "instrument":
            for i, item in enumerate(rows):
                item = f.dict_(item, f"data[{i}]")
                symbol = str(f.key(item, "symbol", f"data[{i}]"))
                if msg.get("action") == "partial" or symbol not in self.instruments:
                    state = dict(item)
                else:
                    state = {**self.instruments[symbol], **item}
                self.instruments[symbol] = state
                out += _instrument_events(f, symbol, state, item, f"data[{i}]")
        return out


def _bucket(f: Fields, item: dict[str, Any], where: str) -> BarEvent | None:
    end_ms = iso_ms(f, f.key(item, "timestamp", where), f"{where}.timestamp")
    if end_ms % BASE_BAR_MS:
        raise f.bad(f"{where}.timestamp {item['timestamp']!r} is not on a 5-minute boundary")
    prices = [f.num(item.get(k), f"{where}.{k}", allow_empty=True) for k in ("open", "high", "low", "close")]
    if any(p is None for p in prices):
        return None  # a bucket without trades carries no prices
    o, h, lo, c = (p for p in prices if p is not None)
    if h < lo:
        raise f.bad(f"{where} high {h} < low {lo}")
    row = CandleRow(
        open_time_ms=end_ms - BASE_BAR_MS,
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=f.num(item.get("homeNotional"), f"{where}.homeNotional", allow_empty=True),
        taker_buy_volume=None,
        quote_volume=f.num(item.get("foreignNotional"), f"{where}.foreignNotional", allow_empty=True),
    )
    return BarEvent(str(f.key(item, "symbol", where)), row, True)


def _instrument_events(
    f: Fields, symbol: str, state: dict[str, Any], changed: dict[str, Any], where: str
) -> list[MarketEvent]:
    """A mark price when the row changed it, open interest when the row changed it, as of the row's time."""
    stamp = state.get("timestamp")
    if not stamp:
        return []
    at = iso_ms(f, stamp, f"{where}.timestamp")
    mark = f.num(state.get("markPrice"), f"{where}.markPrice", allow_empty=True)
    out: list[MarketEvent] = []
    if mark is not None and "markPrice" in changed:
        out.append(MarkEvent(symbol, at, mark))
    if "openInterest" in changed and not state.get("isInverse") and not state.get("isQuanto"):
        contracts = f.num(state.get("openInterest"), f"{where}.openInterest", allow_empty=True)
        per_position = f.num(state.get("underlyingToPositionMultiplier"), "underlyingToPositionMultiplier",
                             allow_empty=True)  # fmt: skip
        home_24h = f.num(state.get("homeNotional24h"), "homeNotional24h", allow_empty=True)
        volume_24h = f.num(state.get("volume24h"), "volume24h", allow_empty=True)
        per_contract = 1 / per_position if per_position else home_24h / volume_24h if home_24h and volume_24h else None
        if contracts is not None and per_contract:
            base = contracts * per_contract
            out.append(OiEvent(symbol, at, base, base * mark if mark is not None else None))
    return out


def bitmex_topics(symbols: Sequence[str]) -> list[str]:
    return [f"{c}:{s}" for s in symbols for c in BITMEX_CHANNELS]


def bitmex_messages(op: str, topics: Sequence[str], *, per_message: int = 20) -> list[str]:
    topics = list(topics)
    return [json.dumps({"op": op, "args": topics[i : i + per_message]}) for i in range(0, len(topics), per_message)]
