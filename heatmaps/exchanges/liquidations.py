"""Liquidation websocket payload parsers and a reconnecting asyncio recorder loop.

Sides are normalised to the side of the *position* that was liquidated:

=========  ======================  ======================
Exchange   long liquidated         short liquidated
=========  ======================  ======================
Binance    ``S = SELL`` (order)    ``S = BUY``
Bybit      ``S = Buy`` (position)  ``S = Sell``
OKX        ``side = sell`` / ``posSide = long``   ``side = buy`` / ``posSide = short``
=========  ======================  ======================

The reconnecting recorder loop that feeds them is in ``liquidation_stream.py``.

Parsers take one frame (str, bytes or already-decoded JSON) and return a list of ``LiquidationRow``;
subscribe acks, pongs and other non-data frames give ``[]``. Malformed *data* frames raise
``MalformedPayload`` (the stream loop logs and skips them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heatmaps.exchanges.base import Fields
from heatmaps.rows import LiquidationRow, Side

Frame = str | bytes | dict[str, Any] | list[Any]
Parser = Callable[[Frame], list[LiquidationRow]]
Sink = Callable[[list[LiquidationRow]], None]

BINANCE_ENDPOINT = "ws !forceOrder@arr"
BYBIT_ENDPOINT = "ws allLiquidation"
OKX_ENDPOINT = "ws liquidation-orders"


def _decode(frame: Frame) -> Any:
    """JSON-decode a text/bytes frame; non-JSON text (e.g. OKX "pong") → None."""
    if isinstance(frame, bytes):
        try:
            frame = frame.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(frame, str):
        try:
            return json.loads(frame)
        except json.JSONDecodeError:
            return None
    return frame


def _fmt(x: float) -> str:
    return repr(float(x))


# --------------------------------------------------------------------------- Binance


def parse_binance_force_order(frame: Frame) -> list[LiquidationRow]:
    """``!forceOrder@arr`` / ``<symbol>@forceOrder`` events (also combined-stream ``{"stream", "data"}`` and
    lists) of USDⓈ-M futures, where quantities are in the base coin.

    One liquidation order can fill in parts, and Binance pushes a frame per part with ``z``, the order's
    *accumulated* filled quantity. So a row is one order: its dedupe key names the order (symbol, side,
    original quantity ``q``, order price ``p`` and the UTC day of its trade time; the stream gives no order
    id), and its quantity is ``z``; a later frame of the same order carries a larger ``z`` and replaces the
    row (``insert_liquidations`` keeps the largest). Price is ``ap`` (average), falling back to ``p``.

    A COIN-M frame (symbol like ``BTCUSD_PERP`` / ``BTCUSD_200925``, or a ``ps`` pair field, as in the
    COIN-M stream's documented example) counts quantities in contracts, not coins: it is refused with
    ``MalformedPayload`` rather than read as coins."""
    msg = _decode(frame)
    if isinstance(msg, dict) and "data" in msg and "stream" in msg:
        msg = msg["data"]
    events = msg if isinstance(msg, list) else [msg]
    f = Fields("binance", BINANCE_ENDPOINT)
    out = []
    for ev in events:
        if not isinstance(ev, dict) or ev.get("e") != "forceOrder":
            continue  # {"result": null, "id": 1} acks and anything else
        o = f.dict_(ev.get("o"), "o")
        symbol = str(f.key(o, "s", "o"))
        if "_" in symbol or "ps" in o:
            raise f.bad(f"o.s {symbol!r} is a COIN-M contract (quantities in contracts); only USDⓈ-M is read")
        side_raw = str(f.key(o, "S", "o")).upper()
        if side_raw not in ("BUY", "SELL"):
            raise f.bad(f"o.S is {side_raw!r}")
        side: Side = "long" if side_raw == "SELL" else "short"
        filled = f.num(o.get("z"), "o.z", allow_empty=True) or f.num(o.get("l"), "o.l", allow_empty=True)
        order_qty = f.req_num(f.key(o, "q", "o"), "o.q")
        order_price = f.num(o.get("p"), "o.p", allow_empty=True)
        price = f.num(o.get("ap"), "o.ap", allow_empty=True) or order_price
        if not filled or not price:
            raise f.bad(f"no filled quantity/price in {o!r}")
        t = f.ms(f.key(o, "T", "o"), "o.T")
        day = t // 86_400_000
        key = f"binance:{symbol}:{side_raw}:{_fmt(order_qty)}:{_fmt(order_price or 0.0)}:{day}"
        out.append(
            LiquidationRow(
                symbol=symbol, time_ms=t, side=side, price=price, quantity=filled, value=price * filled, dedupe_key=key
            )
        )
    return out


def _row(
    exchange: str,
    symbol: str,
    t: int,
    side: Side,
    side_raw: str,
    qty: float,
    price: float,
    *,
    key_qty: float | None = None,
) -> LiquidationRow:
    """One event; the dedupe key is built from the exchange's own fields so a replay maps to the same key."""
    return LiquidationRow(
        symbol=symbol,
        time_ms=t,
        side=side,
        price=price,
        quantity=qty,
        value=price * qty,
        dedupe_key=f"{exchange}:{symbol}:{t}:{side_raw}:{_fmt(qty if key_qty is None else key_qty)}:{_fmt(price)}",
    )


# --------------------------------------------------------------------------- Bybit


def parse_bybit_all_liquidation(frame: Frame) -> list[LiquidationRow]:
    """``allLiquidation.{symbol}``: ``data`` is a list of ``{T, s, S, v, p}``; ``S`` is the *position* side
    (``Buy`` = long liquidated). ``p`` is the bankruptcy price."""
    msg = _decode(frame)
    if not isinstance(msg, dict) or not str(msg.get("topic", "")).startswith("allLiquidation."):
        return []  # {"success": true, "op": "subscribe"}, pong, …
    f = Fields("bybit", BYBIT_ENDPOINT)
    data = msg.get("data")
    items = data if isinstance(data, list) else [f.dict_(data, "data")]
    out = []
    for i, item in enumerate(items):
        item = f.dict_(item, f"data[{i}]")
        symbol = str(f.key(item, "s", f"data[{i}]"))
        side_raw = str(f.key(item, "S", f"data[{i}]"))
        if side_raw.lower() not in ("buy", "sell"):
            raise f.bad(f"data[{i}].S is {side_raw!r}")
        side: Side = "long" if side_raw.lower() == "buy" else "short"
        qty = f.req_num(f.key(item, "v", f"data[{i}]"), f"data[{i}].v")
        price = f.req_num(f.key(item, "p", f"data[{i}]"), f"data[{i}].p")
        t = f.ms(item.get("T", msg.get("ts")), f"data[{i}].T")
        out.append(_row("bybit", symbol, t, side, side_raw, qty, price))
    return out


def bybit_subscribe(symbols: Sequence[str], *, per_message: int = 10) -> list[dict[str, Any]]:
    """Subscribe messages for ``allLiquidation.{symbol}`` (Bybit takes up to 10 args per message)."""
    topics = [f"allLiquidation.{s}" for s in symbols]
    return [{"op": "subscribe", "args": topics[i : i + per_message]} for i in range(0, len(topics), per_message)]


# --------------------------------------------------------------------------- OKX


def parse_okx_liquidation_orders(
    frame: Frame,
    contract_sizes: Mapping[str, float],
    *,
    on_unsized: Callable[[str], None] | None = None,
) -> list[LiquidationRow]:
    """``liquidation-orders`` pushes: ``data[]`` of ``{instId, …, details:[{side, posSide, bkPx, sz, ts}]}``.

    ``sz`` is in contracts: quantity = sz × ctVal (``contract_sizes[instId]``, from the public instruments
    endpoint). An instrument without a known contract size cannot be converted: its details are left out
    and ``on_unsized(instId)`` is called once per detail, so the caller logs and counts them."""
    msg = _decode(frame)
    if not isinstance(msg, dict) or "event" in msg or "data" not in msg:
        return []  # {"event": "subscribe", …}, {"event": "error", …}, "pong"
    arg = msg.get("arg")
    if isinstance(arg, dict) and arg.get("channel") not in (None, "liquidation-orders"):
        return []
    f = Fields("okx", OKX_ENDPOINT)
    out = []
    for i, item in enumerate(f.list_(msg["data"], "data")):
        item = f.dict_(item, f"data[{i}]")
        inst = str(f.key(item, "instId", f"data[{i}]"))
        details = f.list_(item.get("details", []), f"data[{i}].details")
        ct_val = contract_sizes.get(inst)
        if ct_val is None:
            for _ in details:
                if on_unsized is not None:
                    on_unsized(inst)
            continue
        for j, d in enumerate(details):
            where = f"data[{i}].details[{j}]"
            d = f.dict_(d, where)
            pos_side = str(d.get("posSide") or "").lower()
            order_side = str(d.get("side") or "").lower()
            side: Side
            if pos_side in ("long", "short"):
                side = "long" if pos_side == "long" else "short"
            elif order_side in ("buy", "sell"):
                # net mode (posSide "net"): a sell closes a long
                side = "long" if order_side == "sell" else "short"
            else:
                raise f.bad(f"{where} has neither side nor posSide: {d!r}")
            contracts = f.req_num(f.key(d, "sz", where), f"{where}.sz")
            price = f.req_num(f.key(d, "bkPx", where), f"{where}.bkPx")
            t = f.ms(f.key(d, "ts", where), f"{where}.ts")
            qty = contracts * ct_val
            out.append(_row("okx", inst, t, side, order_side or pos_side, qty, price, key_qty=contracts))
    return out


def make_okx_parser(contract_sizes: Mapping[str, float], *, on_unsized: Callable[[str], None] | None = None) -> Parser:
    def parse(frame: Frame) -> list[LiquidationRow]:
        return parse_okx_liquidation_orders(frame, contract_sizes, on_unsized=on_unsized)

    return parse


OKX_SUBSCRIBE = {"op": "subscribe", "args": [{"channel": "liquidation-orders", "instType": "SWAP"}]}


# --------------------------------------------------------------------------- per-exchange stream settings


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What ``stream_liquidations`` needs for one exchange, apart from the URL and sink."""

    subscribe_message: Any  # None, a str/dict, or a list of them
    parse: Parser
    ping_message: str | None  # application-level ping text
    ping_interval: float | None


def binance_stream_spec() -> StreamSpec:
    # The stream is chosen by the URL (…/ws/!forceOrder@arr); protocol pings are answered by websockets.
    return StreamSpec(None, parse_binance_force_order, None, None)


def bybit_stream_spec(symbols: Sequence[str]) -> StreamSpec:
    return StreamSpec(bybit_subscribe(symbols), parse_bybit_all_liquidation, json.dumps({"op": "ping"}), 20.0)


def okx_stream_spec(
    contract_sizes: Mapping[str, float], *, on_unsized: Callable[[str], None] | None = None
) -> StreamSpec:
    """``contract_sizes`` is read on every frame, so a mapping refreshed in place is seen at once."""
    return StreamSpec(OKX_SUBSCRIBE, make_okx_parser(contract_sizes, on_unsized=on_unsized), "ping", 25.0)
