"""Forced liquidations of the newer venues, for the same recorder loop as Binance, Bybit and OKX
(``liquidation_stream.py``; the first three venues' parsers are in ``liquidations.py``).

Only Deribit is recorded. What each venue publishes, per its documentation, and why the others are not:

- **Deribit** has no liquidation channel: its public ``trades.{instrument}.{interval}`` pushes carry an
  optional ``liquidation`` field on the trades a liquidation caused, ``"T"`` when the taker side was being
  liquidated, ``"M"`` the maker side, ``"MT"`` both. ``direction`` is the taker's. So a ``"T"`` sell and an
  ``"M"`` buy are liquidated longs; ``"MT"`` is a long and a short at once (two rows, one trade).
  ``amount`` is in USD for the inverse perpetuals (BTC-PERPETUAL, ETH-PERPETUAL) and in the coin for the
  linear USDC ones; the docs' sentence ("for perpetual and inverse futures the amount is in USD units") does
  not name the linear perpetuals, so the kind is read per instrument from ``public/get_instrument``
  (``instrument_type`` ``reversed`` or ``linear``) and an instrument whose kind is unknown is not stored.
  The ``raw`` interval needs an authorised connection; ``100ms`` (aggregated pushes of every trade) is public.
- **Gate** ``futures.public_liquidates`` pushes ``{price, size, time, contract}``. Its websocket page calls
  ``size`` the liquidation order's size, the REST twin (``GET /futures/{settle}/liq_orders``) calls the same
  field the *user's position* size beside ``left`` (the "system liquidation order maker size"), and the size
  the feed sends has been seen to be the position left after the liquidation rather than the size
  liquidated. No field of the feed gives the liquidated amount, so Gate's feed is not recorded: a volume
  from it would be wrong by an unknown factor, and an event without its volume would count as a zero-sized
  liquidation in every sum. The REST history
  (public, at most an hour a request, Unix seconds) now documents ``order_size``, the liquidation order's
  signed size in contracts, with ``fill_price``: a poller of it could record Gate's liquidations, not built.
- **Bitget** publishes liquidations publicly only on its unified-account (v3) websocket, topic
  ``liquidation``: once a second, per symbol, only the *largest* liquidation of each side in that second
  (its documentation says so); the rest of the second's liquidations are dropped, so its volumes would be a
  lower bound of unknown size. Not recorded; the classic v2 API this project reads has no public feed.
- **BitMEX** ``liquidation`` table rows are ``{orderID, symbol, side, price, leavesQty}``: ``leavesQty`` is
  the liquidation order's unfilled remainder, a row's deletion does not say whether it filled or was
  cancelled (taken over by the insurance fund), and no row carries a time. Not recorded.
- **Hyperliquid** publishes no market-wide liquidation feed: a liquidation shows only in the liquidated
  user's own ``userEvents`` / fills. Its liquidation *levels* are measured from positions instead
  (``hyperliquid_accounts.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from heatmaps.exchanges.base import Fields
from heatmaps.exchanges.liquidations import Frame, StreamSpec, _decode
from heatmaps.rows import LiquidationRow, Side

DERIBIT_ENDPOINT = "ws trades.{instrument}.100ms"
DERIBIT_INTERVAL = "100ms"  # "raw" needs an authorised connection
DERIBIT_PING = json.dumps({"jsonrpc": "2.0", "id": 9001, "method": "public/test", "params": {}})
DERIBIT_PING_S = 25.0  # keeps a quiet instrument's connection from looking idle to the recorder

_LIQUIDATED: dict[str, tuple[bool, bool]] = {"T": (True, False), "M": (False, True), "MT": (True, True)}


def _deribit_sides(direction: str, flag: str) -> list[Side]:
    """The liquidated positions' sides: a seller being liquidated was long, a buyer short."""
    taker, maker = _LIQUIDATED[flag]
    taker_long = direction == "sell"
    sides: list[Side] = []
    if taker:
        sides.append("long" if taker_long else "short")
    if maker:
        sides.append("short" if taker_long else "long")
    return sides


def parse_deribit_trades(
    frame: Frame,
    inverse: Mapping[str, bool],
    *,
    on_unsized: Callable[[str], None] | None = None,
) -> list[LiquidationRow]:
    """The liquidations among a ``trades.{instrument}.{interval}`` push's trades.

    ``inverse[instrument]`` says whether ``amount`` is USD (inverse: quantity = amount / price, value =
    amount) or the coin (linear: quantity = amount, value = amount × price). A liquidation of an
    instrument not in ``inverse`` is left out and ``on_unsized(instrument)`` is called for it. Trades
    without ``liquidation`` and every other frame (subscribe results, ``public/test`` answers) give ``[]``;
    a JSON-RPC error (a refused subscription) is ``MalformedPayload`` naming it, so the loop logs it."""
    msg = _decode(frame)
    f = Fields("deribit", DERIBIT_ENDPOINT)
    if not isinstance(msg, dict):
        return []
    if isinstance(msg.get("error"), dict):
        err = msg["error"]
        raise f.bad(f"refused: code {err.get('code')} {err.get('message', '')} {err.get('data') or ''}".rstrip())
    params = msg.get("params")
    if msg.get("method") != "subscription" or not isinstance(params, dict):
        return []
    if not str(params.get("channel", "")).startswith("trades."):
        return []
    out = []
    for i, trade in enumerate(f.list_(params.get("data"), "params.data")):
        where = f"params.data[{i}]"
        trade = f.dict_(trade, where)
        flag = trade.get("liquidation")
        if flag is None:
            continue
        if flag not in _LIQUIDATED:
            raise f.bad(f"{where}.liquidation is {flag!r}")
        direction = str(f.key(trade, "direction", where))
        if direction not in ("buy", "sell"):
            raise f.bad(f"{where}.direction is {direction!r}")
        inst = str(f.key(trade, "instrument_name", where))
        price = f.req_num(f.key(trade, "price", where), f"{where}.price")
        amount = f.req_num(f.key(trade, "amount", where), f"{where}.amount")
        if price <= 0 or amount <= 0:
            raise f.bad(f"{where} has price {price} and amount {amount}")
        t = f.ms(f.key(trade, "timestamp", where), f"{where}.timestamp")
        trade_id = str(f.key(trade, "trade_id", where))
        is_inverse = inverse.get(inst)
        if is_inverse is None:
            if on_unsized is not None:
                on_unsized(inst)
            continue
        qty, value = (amount / price, amount) if is_inverse else (amount, amount * price)
        for side in _deribit_sides(direction, flag):
            out.append(
                LiquidationRow(
                    symbol=inst,
                    time_ms=t,
                    side=side,
                    price=price,
                    quantity=qty,
                    value=value,
                    dedupe_key=f"deribit:{inst}:{trade_id}:{side}",
                )
            )
    return out


def deribit_subscribe(instruments: Sequence[str]) -> dict[str, Any]:
    channels = [f"trades.{name}.{DERIBIT_INTERVAL}" for name in instruments]
    return {"jsonrpc": "2.0", "id": 1, "method": "public/subscribe", "params": {"channels": channels}}


def deribit_stream_spec(
    instruments: Sequence[str],
    inverse: Mapping[str, bool],
    *,
    on_unsized: Callable[[str], None] | None = None,
) -> StreamSpec:
    """``inverse`` is read on every frame, so a mapping filled in later (an instrument read from REST after
    the stream started) is seen at once."""

    def parse(frame: Frame) -> list[LiquidationRow]:
        return parse_deribit_trades(frame, inverse, on_unsized=on_unsized)

    return StreamSpec(deribit_subscribe(instruments), parse, DERIBIT_PING, DERIBIT_PING_S)
