"""OKX v5 swap market streams: ``candle5m`` on the business endpoint (confirm "1" marks the closed bar),
``mark-price`` and ``open-interest`` on the public one."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from heatmaps.exchanges.base import Fields
from heatmaps.exchanges.liquidations import Frame, _decode
from heatmaps.exchanges.streams.events import BarEvent, MarketEvent, MarkEvent, OiEvent, candle_row, contracts_to_base

OKX_ENDPOINT = "ws candle5m/mark-price/open-interest"


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
                volume = contracts_to_base(
                    inst, f.num(row[5], f"data[{i}] vol", allow_empty=True), contract_sizes, on_unsized
                )
            candle = candle_row(
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
                base = contracts_to_base(
                    inst, f.num(item.get("oi"), f"data[{i}].oi", allow_empty=True), contract_sizes, on_unsized
                )
            value = f.num(item.get("oiUsd"), f"data[{i}].oiUsd", allow_empty=True)
            out.append(OiEvent(inst, f.ms(f.key(item, "ts", f"data[{i}]"), f"data[{i}].ts"), base, value))
    return out


def okx_topics(symbols: Sequence[str], channels: Sequence[str]) -> list[str]:
    """Topics as ``channel:instId``; ``okx_messages`` turns them into OKX's ``args`` objects."""
    return [f"{c}:{s}" for s in symbols for c in channels]


OKX_BUSINESS_CHANNELS = ("candle5m",)
OKX_PUBLIC_CHANNELS = ("mark-price", "open-interest")


def okx_messages(op: str, topics: Sequence[str], *, per_message: int = 20) -> list[str]:
    args = [{"channel": t.split(":", 1)[0], "instId": t.split(":", 1)[1]} for t in topics]
    return [json.dumps({"op": op, "args": args[i : i + per_message]}) for i in range(0, len(args), per_message)]
